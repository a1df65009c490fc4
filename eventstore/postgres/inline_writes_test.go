package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInlineWritesAreSeenInTheAppend checks the inline projections'
// document writes, which an append sends with its COMMIT: within the
// append's transaction, a projection after the one that wrote a document
// reads it as written, through its Documents and through SQL of its own
// (Unwrap), and a document written then deleted is gone.
func TestInlineWritesAreSeenInTheAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counters := projectiontest.Counters("seen_counters")
	type seen struct {
		ByDocuments int  `json:"byDocuments"`
		BySQL       int  `json:"bySql"`
		Deleted     bool `json:"deleted"`
	}
	reader := projection.Custom("reader", projectiontest.Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[projectiontest.Event]) error {
			stream := events[0].StreamName
			docs := projection.NewCollection[projectiontest.Counter](tx.Documents(), "seen_counters")
			c, _, err := docs.Get(ctx, stream)
			if err != nil {
				return err
			}
			var s seen
			s.ByDocuments = c.Total
			if err := tx.Unwrap().(pgx.Tx).QueryRow(ctx, `SELECT (data->>'total')::int FROM seen_counters WHERE _id = $1`, stream).Scan(&s.BySQL); err != nil {
				return err
			}
			scratch := projection.NewCollection[seen](tx.Documents(), "seen_scratch")
			if err := scratch.Put(ctx, stream, s); err != nil {
				return err
			}
			if err := scratch.Delete(ctx, stream); err != nil {
				return err
			}
			_, found, err := scratch.Get(ctx, stream)
			s.Deleted = !found
			if err != nil {
				return err
			}
			return projection.NewCollection[seen](tx.Documents(), "seen_by_reader").Put(ctx, stream, s)
		}, nil)
	s, _ := openStore(t, postgres.WithProjections(counters, reader))

	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2})
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 3})

	got, found, err := projection.NewCollection[seen](s.Documents(), "seen_by_reader").Get(ctx, "counter-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, seen{ByDocuments: 5, BySQL: 5, Deleted: true}, got, "the counter as the append wrote it, before its commit")
	_, found, err = s.Documents().Get(ctx, "seen_scratch", "counter-1")
	require.NoError(t, err)
	assert.False(t, found, "deleted in the append that wrote it")
}

// begins counts the transactions begun on a pool's connections.
type begins struct{ n atomic.Int64 }

func (b *begins) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.EqualFold(d.SQL, "begin") {
		b.n.Add(1)
	}
	return ctx
}

func (b *begins) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A BEGIN sent in a batch counts too.
func (b *begins) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (b *begins) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if strings.EqualFold(d.SQL, "begin") {
		b.n.Add(1)
	}
}

func (b *begins) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// roundTrips counts what a pool's connections send: a statement or a
// batch is a round trip.
type roundTrips struct {
	n   atomic.Int64
	mu  sync.Mutex
	log []string
}

func (r *roundTrips) add(what string) {
	r.n.Add(1)
	r.mu.Lock()
	r.log = append(r.log, what)
	r.mu.Unlock()
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	r.add(fmt.Sprintf("batch of %d", d.Batch.Len()))
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestAppendWithInlineProjectionsIsTwoRoundTrips checks that an append
// whose events two inline document projections handle, on documents that
// exist, costs two round trips: BEGIN, the append and the locked reads of
// both documents in one batch, the writes with the COMMIT in another; and
// that the documents come out as without the batching.
func TestAppendWithInlineProjectionsIsTwoRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(newMigratedDatabase(t))
	require.NoError(t, err)
	tracer := &roundTrips{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	first, second := projectiontest.Counters("two_trips_first"), projectiontest.Counters("two_trips_second")
	s, err := postgres.New(ctx, pool, postgres.WithProjections(first, second))
	require.NoError(t, err)

	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1}) // creates the collections
	projectiontest.Append(t, s, "counter-2", projectiontest.Incremented{By: 5}) // a document missing
	before := tracer.n.Load()
	tracer.mu.Lock()
	tracer.log = nil
	tracer.mu.Unlock()
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2}, projectiontest.Incremented{By: 3})
	tracer.mu.Lock()
	assert.Equal(t, int64(2), tracer.n.Load()-before, "round trips: %q", tracer.log)
	tracer.mu.Unlock()
	for _, p := range []*projection.DocumentProjection[projectiontest.Counter, projectiontest.Event]{first, second} {
		for stream, want := range map[string]int{"counter-1": 6, "counter-2": 5} {
			c, found, err := p.Collection(s.Documents()).Get(ctx, stream)
			require.NoError(t, err)
			require.True(t, found)
			assert.Equal(t, want, c.Total, "%s in %s", stream, p.Name())
		}
	}
}

// TestAppendWithoutInlineWorkIsOneStatement checks that an append of
// events that no inline projection handles is its one statement, without a
// transaction around it, and that one they handle has its transaction.
func TestAppendWithoutInlineWorkIsOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(newMigratedDatabase(t))
	require.NoError(t, err)
	tracer := &begins{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	counters := projectiontest.Counters("one_statement_counters") // not Poisoned
	s, err := postgres.New(ctx, pool, postgres.WithProjections(counters))
	require.NoError(t, err)

	before := tracer.n.Load()
	projectiontest.Append(t, s, "counter-1", projectiontest.Poisoned{})
	assert.Equal(t, before, tracer.n.Load(), "no transaction")
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1})
	assert.Equal(t, before+1, tracer.n.Load(), "the projection's transaction")
	c, found, err := counters.Collection(s.Documents()).Get(ctx, "counter-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, 1, c.Total)
}

// TestPrefetchedDocumentsFollowTheTransaction checks that what an append
// read with its statement (the documents its inline projections will
// read) is not served once the transaction changed them another way: an
// inline projection before them deletes every document of the collection
// (DeleteAll), or writes to it with SQL of its own.
func TestPrefetchedDocumentsFollowTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const collection = "prefetch_counters"
	reset := projection.Custom("resetter", projectiontest.Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[projectiontest.Event]) error {
			switch events[0].StreamName {
			case "counter-deleted":
				return tx.Documents().DeleteAll(ctx, collection)
			case "counter-sql":
				_, err := tx.Unwrap().(pgx.Tx).Exec(ctx, `UPDATE `+collection+` SET data = jsonb_set(data, '{total}', '100'), _version = _version + 1 WHERE _id = 'counter-sql'`)
				return err
			}
			return nil
		},
		func(context.Context, projection.Tx) error { return nil })
	counters := projectiontest.Counters(collection)
	s, _ := openStore(t, postgres.WithProjections(reset, counters))
	for _, stream := range []string{"counter-deleted", "counter-sql"} {
		projectiontest.Append(t, s, stream, projectiontest.Incremented{By: 1})
		projectiontest.Append(t, s, stream, projectiontest.Incremented{By: 2})
	}
	docs := counters.Collection(s.Documents())
	c, found, err := docs.Get(ctx, "counter-deleted")
	require.NoError(t, err)
	require.True(t, found, "written after the DeleteAll")
	assert.Equal(t, 2, c.Total, "counted from nothing after the DeleteAll")
	c, found, err = docs.Get(ctx, "counter-sql")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, 102, c.Total, "counted on from the row the SQL wrote")
}

// TestAppendStatementsKeepTheirGenericPlans checks that every statement an
// append with inline projections runs again and again, the locked reads of
// one and of several documents among them, is planned once, then runs on
// its generic plan: a statement whose generic plan PostgreSQL prices above
// planning anew (a read of the documents of an array of ids) is planned on
// every execution, which cost the server more than any statement of the
// append did.
func TestAppendStatementsKeepTheirGenericPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counters := projectiontest.Counters("plan_counters")
	// Each event changes two documents: its group's and everyone's.
	pairs := projection.MultiStream("plan_pairs", projectiontest.Events,
		func(e emmett.Recorded[projectiontest.Event]) []string {
			if inc, ok := e.Event.(projectiontest.Incremented); ok {
				return []string{"group-" + inc.Group, "all"}
			}
			return nil
		},
		func(doc *projectiontest.Counter, e emmett.Recorded[projectiontest.Event]) *projectiontest.Counter {
			if doc == nil {
				doc = &projectiontest.Counter{}
			}
			doc.Count++
			return doc
		})
	s, _ := openStore(t, postgres.WithProjections(counters, pairs))
	const appends = 40
	for i := range appends {
		projectiontest.Append(t, s, fmt.Sprint("counter-", i%7), projectiontest.Incremented{By: 1, Group: fmt.Sprint("g", i%3)})
	}
	n, err := pairs.Collection(s.Documents()).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(4), n, "three groups and everyone")

	// Each connection of the store's pool tells how it planned what it
	// prepared: a statement is planned anew (a custom plan) on its first
	// five executions on a connection, then runs on its generic plan
	// unless PostgreSQL prices that above planning anew. The appends may
	// have been spread over the connections: each is looked at alone.
	readsSeen := map[string]bool{}
	for _, conn := range s.Pool().AcquireAllIdle(ctx) {
		rows, err := conn.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
		require.NoError(t, err)
		for rows.Next() {
			var st string
			var generic, custom int64
			require.NoError(t, rows.Scan(&st, &generic, &custom))
			if generic+custom < appends/8 {
				continue // not one this connection ran for most appends
			}
			if strings.Contains(st, "FOR NO KEY UPDATE") {
				readsSeen[st] = true
			}
			assert.LessOrEqual(t, custom, int64(5), "planned five times at most: %s", st)
			assert.Positive(t, generic, "then generic: %s", st)
		}
		require.NoError(t, rows.Err())
		conn.Release()
	}
	assert.Len(t, readsSeen, 2, "the locked reads of one document and of two")
}
