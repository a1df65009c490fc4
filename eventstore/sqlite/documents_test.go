package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rawDBOn(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDocumentsArePlainSQL checks that collections are tables with Pongo's
// layout that an application can query with SQL and SQLite's JSON
// functions.
func TestDocumentsArePlainSQL(t *testing.T) {
	ctx := context.Background()
	counters := projectiontest.Counters("sql_counters")
	s, path := open(t, sqlite.WithProjections(counters), sqlite.WithSynchronous(sqlite.SyncNormal))
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2, Group: "g1"}, projectiontest.Tagged{Tag: "x"})
	projectiontest.Append(t, s, "counter-2", projectiontest.Incremented{By: 5, Group: "g2"})
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 3, Group: "g1"})

	db := rawDBOn(t, path)
	rows, err := db.QueryContext(ctx, `SELECT _id, json_extract(data, '$.total') FROM sql_counters ORDER BY _id`)
	require.NoError(t, err)
	got := map[string]int{}
	for rows.Next() {
		var id string
		var total int
		require.NoError(t, rows.Scan(&id, &total))
		got[id] = total
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	assert.Equal(t, map[string]int{"counter-1": 5, "counter-2": 5}, got)

	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM sql_counters, json_each(data, '$.tags') AS tag WHERE tag.value = 'x'`).Scan(&n))
	assert.Equal(t, 1, n, "arrays are there for json_each")

	// Pongo's columns, with its defaults.
	var (
		data, metadata, partition, created, updated string
		version, archived                           int
	)
	require.NoError(t, db.QueryRowContext(ctx, `SELECT data, metadata, _version, _partition, _archived, _created, _updated FROM sql_counters WHERE _id = 'counter-1'`).
		Scan(&data, &metadata, &version, &partition, &archived, &created, &updated))
	assert.JSONEq(t, `{"total":5,"count":2,"tags":["x"],"group":{"name":"g1"},"active":true}`, data, "the document as the projection wrote it")
	assert.Equal(t, "{}", metadata)
	assert.Equal(t, 2, version, "each append that touched the document wrote it once")
	assert.Equal(t, "png_global", partition)
	assert.Zero(t, archived)
	assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, created)
	assert.GreaterOrEqual(t, updated, created)

	cols := map[string]string{}
	rows, err = db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info('sql_counters')`)
	require.NoError(t, err)
	for rows.Next() {
		var name, typ string
		require.NoError(t, rows.Scan(&name, &typ))
		cols[name] = typ
	}
	require.NoError(t, rows.Close())
	assert.Equal(t, map[string]string{"_id": "TEXT", "data": "TEXT", "metadata": "TEXT", "_version": "INTEGER",
		"_partition": "TEXT", "_archived": "INTEGER", "_created": "TEXT", "_updated": "TEXT"}, cols)
}

// TestDocumentsKeepTheirBytes checks that documents read back exactly as
// they were put, scalars included (a JSON column type would make 1.50 a
// REAL).
func TestDocumentsKeepTheirBytes(t *testing.T) {
	ctx := context.Background()
	s := openMemory(t)
	docs := s.Documents()
	for i, doc := range []string{`1.50`, `12345678901234567890`, `"text"`, `[1, 2.0]`, `{"b":1,  "a":[true,null]}`, `null`} {
		id := fmt.Sprint("d", i)
		require.NoError(t, docs.Put(ctx, "bytes", id, []byte(doc)))
		got, found, err := docs.Get(ctx, "bytes", id)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, doc, string(got))
	}
}

// TestDocumentCollectionNames checks that a table of the application's own
// is not a collection: it is neither written to nor emptied. (The suite
// checks the names refused, reservedCollections among them.)
func TestDocumentCollectionNames(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	docs := s.Documents()
	db := rawDBOn(t, path)
	_, err := db.ExecContext(ctx, `CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO orders (total) VALUES (10), (20)`)
	require.NoError(t, err)
	err = docs.DeleteAll(ctx, "orders")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a document collection")
	require.Error(t, docs.Put(ctx, "orders", "x", []byte(`{}`)))
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM orders`).Scan(&n))
	assert.Equal(t, 2, n)
}

// TestInlineProjectionUnwrap checks the Tx of an inline projection: its
// *sql.Tx is the append's, so a table of the projection's own commits and
// rolls back with the events.
func TestInlineProjectionUnwrap(t *testing.T) {
	ctx := context.Background()
	audit := projection.Custom("audit", projectiontest.Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[projectiontest.Event]) error {
			stx, ok := tx.Unwrap().(*sql.Tx)
			if !ok {
				return errors.New("not a *sql.Tx")
			}
			if _, err := stx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit (position INTEGER PRIMARY KEY, stream TEXT)`); err != nil {
				return err
			}
			for _, e := range events {
				if _, ok := e.Event.(projectiontest.Poisoned); ok {
					return errors.New("poisoned")
				}
				if _, err := stx.ExecContext(ctx, `INSERT INTO audit VALUES (?, ?)`, e.GlobalPosition, e.StreamName); err != nil {
					return err
				}
			}
			return tx.Documents().Put(ctx, "audit_docs", "last", []byte(fmt.Sprint(events[len(events)-1].GlobalPosition)))
		}, nil)
	s, path := open(t, sqlite.WithProjections(audit))
	res := projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1}, projectiontest.Tagged{Tag: "a"})
	data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 1}, projectiontest.Poisoned{}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = s.AppendToStream(ctx, "counter-2", data)
	var perr *projection.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "audit", perr.Projection)

	db := rawDBOn(t, path)
	var n int
	var last int64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*), max(position) FROM audit`).Scan(&n, &last))
	assert.Equal(t, 2, n, "the rolled-back append left no rows")
	assert.Equal(t, res.Position.GlobalPosition, last)
	got, _, err := s.Documents().Get(ctx, "audit_docs", "last")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(last), string(got))
}
