package replication_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	code := pgtest.Main(m)
	for _, srv := range []*pgtest.Server{ownServer.srv, durable.srv} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	os.Exit(code)
}

// The package's own server: pgtest's, but with synchronous_commit on.
// Logical decoding only reads WAL once it is flushed; with asynchronous
// commits (pgtest's default, for speed) a commit reaches the stream only
// when the WAL writer flushes it, every wal_writer_delay (200ms), which
// would hide the feed's own latency. fsync stays off: flushes are cheap.
var ownServer struct {
	mu  sync.Mutex
	srv *pgtest.Server
	err error
}

// server returns the server the tests use: the one EMMETT_POSTGRES_URL
// names, or the package's own.
func server(t testing.TB) *pgtest.Server {
	t.Helper()
	if os.Getenv(pgtest.EnvURL) != "" {
		return pgtest.Default(t)
	}
	ownServer.mu.Lock()
	defer ownServer.mu.Unlock()
	if ownServer.srv == nil && ownServer.err == nil {
		ownServer.srv, ownServer.err = pgtest.StartServer(pgtest.Options{Settings: map[string]string{"synchronous_commit": "on"}})
	}
	if ownServer.err != nil {
		if errors.Is(ownServer.err, pgtest.ErrNotFound) && !pgtest.Required() {
			t.Skipf("no PostgreSQL to test against: %v", ownServer.err)
		}
		t.Fatalf("starting PostgreSQL: %v", ownServer.err)
	}
	return ownServer.srv
}

// newDatabase creates a database for the test on the package's server,
// with the store's schema in it: a copy of a template that Open migrated
// once (pgtest.NewDatabaseFrom), as migrating each database took as long
// as creating it.
func newDatabase(t testing.TB) string {
	t.Helper()
	return server(t).NewDatabaseFrom(t, "emmett_migrated", func(ctx context.Context, connString string) error {
		s, err := postgres.Open(ctx, connString)
		if err != nil {
			return err
		}
		return s.Close()
	})
}

const waitLimit = 60 * time.Second

// readAllWait is how long the tests' stores wait, before ReadAll (and
// Head) read, for the transactions open when they start (WithReadAllWait;
// 1 s by default). The tests run in parallel on one server, and the
// server's oldest open transaction bounds what ReadAll returns in every
// database: another test's long transaction, seconds long under -race on
// a loaded machine, would otherwise hide the events a test has just
// appended.
const readAllWait = 30 * time.Second

// openStore opens a store on the database (waiting up to readAllWait
// before ReadAll reads).
func openStore(t testing.TB, connString string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), connString, postgres.WithReadAllWait(readAllWait))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newSource returns a source for the processor, and drops its slot when
// the test ends (slots are few on the test server, and hold WAL).
func newSource(t testing.TB, s *postgres.Store, processorID string, opts ...replication.Option) *replication.Source {
	t.Helper()
	src, err := replication.NewSource(s, processorID, append([]replication.Option{replication.WithStatusInterval(time.Second)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := src.DropSlot(ctx); err != nil && !strings.Contains(err.Error(), "closed") {
			t.Logf("dropping slot: %v", err)
		}
	})
	return src
}

// appendTo appends n Incremented events to a stream, by 1, 2, ..., and
// returns the result.
func appendTo(t testing.TB, s *postgres.Store, stream string, n int) eventstore.AppendResult {
	t.Helper()
	res, err := s.AppendToStream(context.Background(), stream, increments(n))
	require.NoError(t, err)
	return res
}

func increments(n int) []eventstore.EventData {
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = eventstore.EventData{Type: "Incremented", Data: fmt.Appendf(nil, `{"by":%d}`, i+1)}
	}
	return evs
}

// counter is what the tally projection keeps per stream.
type counter struct {
	Count, Last, Total int64
}

// tally is a projection keeping a counter per stream in a table of its
// own, through the processor's transaction. It fails on an event that is
// not the next of its stream: a gap or a duplicate stops the processor.
type tally struct {
	name  string
	table string
	delay time.Duration                                                  // slept in every Handle
	hook  func(ctx context.Context, events []emmett.RecordedEvent) error // called mid-Handle, after half is written
}

func newTally(t testing.TB, pool *pgxpool.Pool, name string) *tally {
	t.Helper()
	tl, err := createTally(context.Background(), pool, name)
	require.NoError(t, err)
	return tl
}

func createTally(ctx context.Context, pool *pgxpool.Pool, name string) (*tally, error) {
	tl := &tally{name: name, table: "tally_" + name}
	_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+tl.table+` (
	stream text PRIMARY KEY, count bigint NOT NULL, last bigint NOT NULL, total bigint NOT NULL)`)
	return tl, err
}

func (tl *tally) Name() string         { return tl.name }
func (tl *tally) EventTypes() []string { return nil }
func (tl *tally) Reset(ctx context.Context, tx projection.Tx) error {
	_, err := tx.Unwrap().(pgx.Tx).Exec(ctx, "TRUNCATE "+tl.table)
	return err
}

func (tl *tally) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	ptx := tx.Unwrap().(pgx.Tx)
	if tl.delay > 0 {
		time.Sleep(tl.delay)
	}
	type run struct {
		first, last, total, count int64
	}
	runs := map[string]*run{}
	var order []string
	apply := func(stream string, r *run) error {
		if r.first == 1 {
			_, err := ptx.Exec(ctx, `INSERT INTO `+tl.table+` (stream, count, last, total) VALUES ($1, $2, $3, $4)`,
				stream, r.count, r.last, r.total)
			if err != nil {
				return fmt.Errorf("stream %s from position 1: %w (a duplicate)", stream, err)
			}
			return nil
		}
		tag, err := ptx.Exec(ctx, `UPDATE `+tl.table+` SET count = count + $2, last = $3, total = total + $4 WHERE stream = $1 AND last = $5`,
			stream, r.count, r.last, r.total, r.first-1)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("stream %s: event at position %d is not the next one (a gap or a duplicate)", stream, r.first)
		}
		return nil
	}
	for i, e := range events {
		var d struct{ By int64 }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		r, ok := runs[e.StreamName]
		switch {
		case !ok:
			r = &run{first: e.StreamPosition, last: e.StreamPosition - 1}
			runs[e.StreamName] = r
			order = append(order, e.StreamName)
		case e.StreamPosition != r.last+1:
			return fmt.Errorf("stream %s: position %d after %d in one batch", e.StreamName, e.StreamPosition, r.last)
		}
		r.last, r.count, r.total = e.StreamPosition, r.count+1, r.total+d.By
		if tl.hook != nil && i == len(events)/2 {
			// Write what came before, then let the hook act mid-batch.
			for _, stream := range order {
				if err := apply(stream, runs[stream]); err != nil {
					return err
				}
			}
			runs, order = map[string]*run{}, nil
			if err := tl.hook(ctx, events); err != nil {
				return err
			}
		}
	}
	for _, stream := range order {
		if err := apply(stream, runs[stream]); err != nil {
			return err
		}
	}
	return nil
}

// read returns the tally's table.
func (tl *tally) read(t testing.TB, pool *pgxpool.Pool) map[string]counter {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT stream, count, last, total FROM `+tl.table)
	require.NoError(t, err)
	out := map[string]counter{}
	for rows.Next() {
		var s string
		var c counter
		require.NoError(t, rows.Scan(&s, &c.Count, &c.Last, &c.Total))
		out[s] = c
	}
	require.NoError(t, rows.Err())
	return out
}

// replay folds the whole log the way the tally does: the oracle.
func replay(t testing.TB, s *postgres.Store) map[string]counter {
	t.Helper()
	out := map[string]counter{}
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		require.NoError(t, err)
		var d struct{ By int64 }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		c := out[e.StreamName]
		c.Count++
		c.Last = e.StreamPosition
		c.Total += d.By
		out[e.StreamName] = c
	}
	return out
}

func requireEqualReplay(t testing.TB, s *postgres.Store, tl *tally) {
	t.Helper()
	want := replay(t, s)
	require.NotEmpty(t, want)
	require.Equal(t, want, tl.read(t, s.Pool()), "the read model equals a fresh replay of the log")
}

// running is a processor run in a goroutine.
// runs maps a processor to its last run (start's), for waitFor to tell
// why a processor that stopped did.
var runs sync.Map

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func start(t testing.TB, p *projection.Processor) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	runs.Store(p, r)
	go func() {
		defer close(r.done)
		r.err = p.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(waitLimit):
		t.Fatal("the processor did not stop")
		return nil
	}
}

func waitFor(t testing.TB, p *projection.Processor, pos eventstore.Position) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	begin := time.Now()
	if err := p.WaitFor(ctx, pos); err != nil {
		cp, active := p.Checkpoint()
		why := ""
		if r, ok := runs.Load(p); ok {
			select {
			case <-r.(*running).done:
				why = fmt.Sprintf(", stopped by: %v", r.(*running).err)
			default:
			}
		}
		t.Fatalf("waiting for %s: %v (checkpoint %s, running %v%s)", pos, err, cp, active, why)
	}
	return time.Since(begin)
}
