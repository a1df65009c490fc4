package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newBouncer starts a PgBouncer in transaction mode in front of the
// package's server, for the test.
func newBouncer(t testing.TB) *pgtest.Bouncer {
	t.Helper()
	b := pgtest.NewBouncer(t, pgtest.Default(t), pgtest.BouncerOptions{})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgbouncer's log:\n%s", b.LogTail(200))
		}
	})
	return b
}

// openPooledStore opens a store with WithPooler through the bouncer on a
// fresh migrated database; db is the database's direct URL.
func openPooledStore(t testing.TB, b *pgtest.Bouncer, opts ...postgres.Option) (s *postgres.Store, db string) {
	t.Helper()
	db = newMigratedDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Client connections are cheap behind a pooler, which bounds the
	// server's: more than pgxpool's default of 4 (on 2 cores), so that a
	// case's writers do not keep its processors waiting for one.
	s, err := postgres.Open(ctx, b.Through(db)+"&pool_max_conns=12", append([]postgres.Option{postgres.WithReadAllWait(readAllWait), postgres.WithPooler()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, db
}

// TestPooler runs the whole store and projection conformance suites
// against stores that reach the database through a real PgBouncer in
// transaction mode (pool_mode = transaction), where no session state
// outlasts a transaction: no named prepared statements, no session-level
// advisory locks (processors hold leases), no LISTEN.
func TestPooler(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping under -short: the suites run against the store directly already (TestConformance, TestProjections)")
	}
	t.Parallel()
	b := newBouncer(t)
	t.Run("Store", func(t *testing.T) {
		s, _ := openPooledStore(t, b)
		storetest.Run(t, storetest.Config{
			New: func(t *testing.T) eventstore.Store { return s },
			CreatePartition: func(ctx context.Context, store eventstore.Store, partition string) error {
				return store.(*postgres.Store).AddPartition(ctx, partition)
			},
			// Below 50,000 events the suite does not measure the heap of
			// the whole process, which this test, run in parallel with
			// others, cannot.
			LargeStreamEvents: 10_000,
		})
	})
	t.Run("Projections", func(t *testing.T) {
		events := 1000
		projectiontest.Run(t, projectionsConfig(events, func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			// A bouncer of each case's own: PgBouncer is one process on
			// one core, and the cases run in parallel.
			s, _ := openPooledStore(t, newBouncer(t), postgres.WithProjections(inline...))
			return s
		}))
	})
}

// TestPoolerKeepsNoSessionState: a store with WithPooler prepares no named
// statements, does not LISTEN even with WithListen (its sources poll, and
// it says so once in its log), and holds no advisory lock while a
// processor runs.
func TestPoolerKeepsNoSessionState(t *testing.T) {
	t.Parallel()
	b := newBouncer(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, db := openPooledStore(t, b, postgres.WithListen(), postgres.WithLogger(logger))
	admin := adminPool(t, db)
	ctx := context.Background()
	assert.Equal(t, pgx.QueryExecModeCacheDescribe, s.Pool().Config().ConnConfig.DefaultQueryExecMode)

	counters := projectiontest.Counters("counters")
	last := projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2}).Position
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollInterval(50*time.Millisecond)), counters)
	_ = s.Source() // a second source: no second log line
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, p.WaitFor(waitCtx, last))

	var prepared, listening, advisory int
	require.NoError(t, admin.QueryRow(ctx, `SELECT
    (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'),
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).
		Scan(&listening, &advisory))
	assert.Zero(t, listening, "no session LISTENs")
	assert.Zero(t, advisory, "no advisory lock is held while the processor runs")
	// Named statements would be prepared in the server sessions behind
	// the bouncer; the store's own pool's sessions are those.
	conn, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&prepared))
	conn.Release()
	assert.Zero(t, prepared, "no named prepared statements")
	stop()
	require.NoError(t, <-done)

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, strings.Count(logs.String(), "WithListen is ignored"), "said once: %s", logs.String())
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
