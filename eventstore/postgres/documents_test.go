package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocumentsArePlainSQL checks that collections are tables with Pongo's
// layout, with no index but the primary key unless one is declared (as
// Pongo), that an application can query with SQL; and that the GIN index
// on data is there where it is declared.
func TestDocumentsArePlainSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counters := projectiontest.Counters("sql_counters")
	indexed := projectiontest.Counters("sql_indexed_counters", projection.WithIndexes(projection.ContainsIndex, "total"))
	s, db := openStore(t, postgres.WithProjections(counters, indexed))
	admin := adminPool(t, db)
	indexes := func(table string) []string {
		t.Helper()
		rows, err := admin.Query(ctx, `SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname`, table)
		require.NoError(t, err)
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return defs
	}
	// The declared indexes are created when the store opens, before any
	// append.
	defs := indexes("sql_indexed_counters")
	if assert.Len(t, defs, 3, "the primary key, the GIN index, the index on total") {
		assert.Contains(t, defs[0], `sql_indexed_counters:total`)
		assert.Contains(t, defs[1], "sql_indexed_counters_data_idx CREATE INDEX sql_indexed_counters_data_idx ON public.sql_indexed_counters USING gin (data jsonb_path_ops)")
		assert.Contains(t, defs[2], "sql_indexed_counters_pkey")
	}

	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2, Group: "g1"}, projectiontest.Tagged{Tag: "x"})
	projectiontest.Append(t, s, "counter-2", projectiontest.Incremented{By: 5, Group: "g2"})
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 3, Group: "g1"})

	rows, err := admin.Query(ctx, `SELECT _id, data->>'total' FROM sql_counters ORDER BY _id`)
	require.NoError(t, err)
	got := map[string]string{}
	for rows.Next() {
		var id, total string
		require.NoError(t, rows.Scan(&id, &total))
		got[id] = total
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, map[string]string{"counter-1": "5", "counter-2": "5"}, got)

	var n int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM sql_counters WHERE data @> '{"tags":["x"]}'`).Scan(&n))
	assert.Equal(t, 1, n, "containment in plain SQL")

	// Pongo's columns, with its defaults.
	var (
		data, metadata   string
		version          int64
		partition        string
		archived         bool
		created, updated time.Time
	)
	require.NoError(t, admin.QueryRow(ctx, `SELECT data::text, metadata::text, _version, _partition, _archived, _created, _updated
FROM sql_counters WHERE _id = 'counter-1'`).Scan(&data, &metadata, &version, &partition, &archived, &created, &updated))
	assert.JSONEq(t, `{"total":5,"count":2,"tags":["x"],"group":{"name":"g1"},"active":true}`, data, "the document as the projection wrote it")
	assert.Equal(t, "{}", metadata)
	assert.Equal(t, int64(2), version, "each append that touched the document wrote it once")
	assert.Equal(t, "png_global", partition)
	assert.False(t, archived)
	assert.False(t, updated.Before(created))

	type column struct{ name, typ, nullable, def string }
	rows, err = admin.Query(ctx, `SELECT column_name, data_type, is_nullable, coalesce(column_default, '')
FROM information_schema.columns WHERE table_name = 'sql_counters' ORDER BY ordinal_position`)
	require.NoError(t, err)
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ, &c.nullable, &c.def)
		return c, err
	})
	require.NoError(t, err)
	assert.Equal(t, []column{
		{"_id", "text", "NO", ""},
		{"data", "jsonb", "NO", ""},
		{"metadata", "jsonb", "NO", "'{}'::jsonb"},
		{"_version", "bigint", "NO", "1"},
		{"_partition", "text", "NO", "'png_global'::text"},
		{"_archived", "boolean", "NO", "false"},
		{"_created", "timestamp with time zone", "NO", "now()"},
		{"_updated", "timestamp with time zone", "NO", "now()"},
	}, cols, "Pongo's layout")

	if defs := indexes("sql_counters"); assert.Len(t, defs, 1, "Pongo's indexes: the primary key alone") {
		assert.Contains(t, defs[0], "sql_counters_pkey")
	}

	// Declared on a collection that has documents.
	require.NoError(t, s.Documents().EnsureIndex(ctx, "sql_counters", projection.ContainsIndex))
	require.NoError(t, s.Documents().EnsureIndex(ctx, "sql_counters", projection.ContainsIndex), "again: nothing to do")
	defs = indexes("sql_counters")
	if assert.Len(t, defs, 2, "the GIN index, the primary key") {
		assert.Equal(t, "sql_counters_data_idx CREATE INDEX sql_counters_data_idx ON public.sql_counters USING gin (data jsonb_path_ops)", defs[0])
	}
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM sql_counters WHERE data @> '{"tags":["x"]}'`).Scan(&n))
	assert.Equal(t, 1, n, "containment, with the index")

	// A collection named as another's GIN index is not taken for it.
	require.NoError(t, s.Documents().Put(ctx, "clash", "a", []byte(`{}`)))
	require.NoError(t, s.Documents().Put(ctx, "clash_data_idx", "a", []byte(`{}`)))
	err = s.Documents().EnsureIndex(ctx, "clash", projection.ContainsIndex)
	require.ErrorContains(t, err, `a relation named "clash_data_idx" exists and is not an index of clash`)
	assert.Len(t, indexes("clash"), 1, "the primary key alone")
}

// TestDocumentsAsJSONB checks what jsonb keeps of a document: its value,
// not its bytes; and what it refuses.
func TestDocumentsAsJSONB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openStore(t)
	docs := s.Documents()
	for i, doc := range []string{`1.50`, `12345678901234567890.5`, `"text"`, `[1, 2.0]`, `{"b":1,  "a":[true,null], "b": 2}`, `null`, `"\u00e9"`} {
		id := fmt.Sprint("d", i)
		require.NoError(t, docs.Put(ctx, "jsonb_docs", id, []byte(doc)))
		got, found, err := docs.Get(ctx, "jsonb_docs", id)
		require.NoError(t, err)
		require.True(t, found)
		var want, have any
		require.NoError(t, json.Unmarshal([]byte(doc), &want))
		require.NoError(t, json.Unmarshal(got, &have))
		assert.Equal(t, want, have, "%s reads back as %s", doc, got)
	}
	got, _, err := docs.Get(ctx, "jsonb_docs", "d1")
	require.NoError(t, err)
	assert.Equal(t, "12345678901234567890.5", string(got), "numbers keep their decimal value")

	err = docs.Put(ctx, "jsonb_docs", "nul", []byte(`{"a":"x\u0000y"}`))
	assert.ErrorIs(t, err, projection.ErrInvalidDocument, "jsonb refuses \\u0000")
	err = s.Processors().Commit(ctx, "nul-check", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		return tx.Documents().Put(ctx, "jsonb_docs", "nul", []byte(`"\u0000"`))
	})
	assert.ErrorIs(t, err, projection.ErrInvalidDocument, "in a transaction too")
}

// TestDocumentCollectionNames checks that names that are SQL keywords are
// quoted, and that a table of the application's own is not a collection.
// (The suite checks the names refused, reservedCollections among them.)
func TestDocumentCollectionNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := openStore(t)
	docs := s.Documents()

	// Names that are SQL keywords are quoted.
	for _, name := range []string{"order", "select", "user"} {
		require.NoError(t, docs.Put(ctx, name, "x", []byte(`{"n":1}`)), name)
		n, err := docs.Count(ctx, name, projection.Query{})
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
	}

	// A table of the application's own is not a collection: it is neither
	// written to nor emptied.
	admin := adminPool(t, db)
	_, err := admin.Exec(ctx, `CREATE TABLE orders (id serial PRIMARY KEY, total int); INSERT INTO orders (total) VALUES (10), (20)`)
	require.NoError(t, err)
	err = docs.DeleteAll(ctx, "orders")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a document collection")
	require.Error(t, docs.Put(ctx, "orders", "x", []byte(`{}`)))
	require.Error(t, docs.Delete(ctx, "orders", "x"))
	var n int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n))
	assert.Equal(t, 2, n)
}

// TestDocumentTableDroppedBehindTheStore checks that a collection dropped by
// someone else after the store used it is created again by inline
// projections, whose append is tried again. (The suite checks the store's
// own writes.)
func TestDocumentTableDroppedBehindTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counters := projectiontest.Counters("dropped_counters")
	s, db := openStore(t, postgres.WithProjections(counters))
	admin := adminPool(t, db)
	docs := s.Documents()

	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1})
	_, err := admin.Exec(ctx, `DROP TABLE dropped_counters`)
	require.NoError(t, err)
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2})
	c, found, err := counters.Collection(docs).Get(ctx, "counter-1")
	require.NoError(t, err)
	require.True(t, found, "the append was tried again, and created the table anew")
	assert.Equal(t, 2, c.Total, "the new table has what the projection wrote after the drop")
}

// TestInlineProjectionUnwrap checks the Tx of an inline projection: its
// pgx.Tx is the append's, so a table of the projection's own commits and
// rolls back with the events.
func TestInlineProjectionUnwrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	audit := projection.Custom("audit", projectiontest.Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[projectiontest.Event]) error {
			ptx, ok := tx.Unwrap().(pgx.Tx)
			if !ok {
				return errors.New("not a pgx.Tx")
			}
			for _, e := range events {
				if _, ok := e.Event.(projectiontest.Poisoned); ok {
					return errors.New("poisoned")
				}
				if _, err := ptx.Exec(ctx, `INSERT INTO audit VALUES ($1, $2)`, e.GlobalPosition, e.StreamName); err != nil {
					return err
				}
			}
			return tx.Documents().Put(ctx, "audit_docs", "last", []byte(fmt.Sprint(events[len(events)-1].GlobalPosition)))
		}, nil)
	s, db := openStore(t, postgres.WithProjections(audit))
	admin := adminPool(t, db)
	_, err := admin.Exec(ctx, `CREATE TABLE audit (position bigint PRIMARY KEY, stream text)`)
	require.NoError(t, err)

	res := projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1}, projectiontest.Tagged{Tag: "a"})
	data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 1}, projectiontest.Poisoned{}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = s.AppendToStream(ctx, "counter-2", data)
	var perr *projection.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "audit", perr.Projection)

	var n int
	var last int64
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*), max(position) FROM audit`).Scan(&n, &last))
	assert.Equal(t, 2, n, "the rolled-back append left no rows")
	assert.Equal(t, res.Position.GlobalPosition, last)
	got, _, err := s.Documents().Get(ctx, "audit_docs", "last")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(last), string(got))

	// In a transaction of the application's, the projection runs in it.
	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	data, err = eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Tagged{Tag: "b"}}, emmett.Metadata{})
	require.NoError(t, err)
	res, err = s.AppendToStreamTx(ctx, tx, "counter-3", data)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM audit`).Scan(&n))
	assert.Equal(t, 2, n, "rolled back with the application's transaction")
}

// TestConcurrentInlineProjections has appends to different streams change
// one document at once (a multi-stream projection), and create the
// collections of their projections at once: no change is lost, none
// fails. Transactions take turns on the document's row; one that found the
// document missing while another created it is tried again.
func TestConcurrentInlineProjections(t *testing.T) {
	t.Parallel()
	counters, groups := projectiontest.Counters("race_counters"), projectiontest.GroupTotals("race_groups")
	s, _ := openStore(t, postgres.WithProjections(counters, groups))
	const writers, appends = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				projectiontest.Append(t, s, fmt.Sprintf("counter-%d", w), projectiontest.Incremented{By: 1, Group: fmt.Sprint("g", i%2)})
			}
		})
	}
	wg.Wait()
	n, err := counters.Collection(s.Documents()).Count(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(writers), n)
	for _, id := range []string{"g0", "g1"} {
		g, _, err := groups.Collection(s.Documents()).Get(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, writers*appends/2, g.Total, "no lost update")
	}
}

// TestDocumentsInIDOrderWithAnyCollation checks that documents come in
// byte order of their ids (as Go compares strings) in a database whose
// collation orders text otherwise.
func TestDocumentsInIDOrderWithAnyCollation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.Default(t)
	name := fmt.Sprintf("icu_%d", time.Now().UnixNano())
	admin := adminPool(t, pgtest.NewDatabase(t))
	_, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
	if err != nil {
		t.Skipf("no ICU collation to test with: %v", err)
	}
	t.Cleanup(func() { _ = srv.DropDatabase(context.Background(), name) })
	s, err := postgres.Open(ctx, srv.URL(name))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	docs := s.Documents()
	ids := []string{"b", "B", "a", "A", "_x", "é", "z", "Z", "10", "9", "a-1", "a_1", "aa"}
	// More than a page of Find, so that its pagination is in byte order
	// too.
	for i := range 1200 {
		ids = append(ids, fmt.Sprintf("%c%d-%c", "aAbB_-zZé"[i%9], i, "xX.y"[i%4]))
	}
	require.NoError(t, s.Processors().Commit(ctx, "seed", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		for _, id := range ids {
			if err := tx.Documents().Put(ctx, "ordered", id, []byte(`{}`)); err != nil {
				return err
			}
		}
		return nil
	}))
	var got []string
	for d, err := range docs.Find(ctx, "ordered", projection.Query{}) {
		require.NoError(t, err)
		got = append(got, d.ID)
	}
	slices.Sort(ids)
	assert.Equal(t, ids, got)
	var icuFirst string
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT _id FROM ordered ORDER BY _id LIMIT 1`).Scan(&icuFirst))
	assert.NotEqual(t, ids[0], icuFirst, "the database's own order differs")
}

// TestExistingCollectionIsNotLocked checks that a store using a collection
// that exists (created by another store, or before a restart) for the first
// time, in a transaction that stays open, does not lock it against other
// writers (as DDL would, even CREATE INDEX IF NOT EXISTS).
func TestExistingCollectionIsNotLocked(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	ctx := context.Background()
	counters := projectiontest.Counters("shared_counters")
	first, db := openStore(t, postgres.WithProjections(counters))
	projectiontest.Append(t, first, "counter-1", projectiontest.Incremented{By: 1})
	second, err := postgres.Open(ctx, db, postgres.WithProjections(counters))
	require.NoError(t, err)
	defer second.Close()

	tx, err := second.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 2}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = second.AppendToStreamTx(ctx, tx, "counter-2", data)
	require.NoError(t, err)

	appendCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = first.AppendToStream(appendCtx, "counter-3", data)
	require.NoError(t, err, "the other store's projection writes while the transaction is open")
	require.NoError(t, tx.Commit(ctx))
	n, err := counters.Collection(first.Documents()).Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
}
