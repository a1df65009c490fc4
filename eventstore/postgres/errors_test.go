package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func oneEvent(typ string) []eventstore.EventData {
	return []eventstore.EventData{{Type: typ, Data: []byte(`{"n":1}`)}}
}

// lockStream holds the row of an existing stream locked, so that appends to
// it wait, until the returned function is called.
func lockStream(t *testing.T, pool *pgxpool.Pool, stream string) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	var one int
	require.NoError(t, tx.QueryRow(ctx, "SELECT 1 FROM emt_streams WHERE stream_id = $1 FOR UPDATE", stream).Scan(&one))
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

// backendWaiting returns the process id of the backend that runs an append
// and waits (wait event type, such as Lock), or that sleeps (Timeout).
func backendWaiting(t *testing.T, pool *pgxpool.Pool, waitType string) int32 {
	t.Helper()
	var pid int32
	require.Eventually(t, func() bool {
		err := pool.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
WHERE (query LIKE 'WITH st AS%' OR wait_event = 'PgSleep')
  AND wait_event_type = $1 AND pid <> pg_backend_pid() AND datname = current_database()
LIMIT 1`, waitType).Scan(&pid)
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "an append waiting on %s", waitType)
	return pid
}

func terminate(t *testing.T, pool *pgxpool.Pool, pid int32) {
	t.Helper()
	var ok bool
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
	require.True(t, ok)
}

func appendAsync(s *postgres.Store, ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := s.AppendToStream(ctx, stream, events, opts...)
		done <- err
	}()
	return done
}

func requireVersion(t *testing.T, s *postgres.Store, stream string, want int64) {
	t.Helper()
	v, _, err := s.StreamVersion(context.Background(), stream)
	require.NoError(t, err)
	require.Equal(t, want, v, "version of %s", stream)
}

func TestConnectionKilledWhileAppending(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx := context.Background()
	_, err := s.AppendToStream(ctx, "killed-1", oneEvent("First"))
	require.NoError(t, err)

	release := lockStream(t, admin, "killed-1")
	done := appendAsync(s, ctx, "killed-1", oneEvent("Second"))
	terminate(t, admin, backendWaiting(t, admin, "Lock"))
	err = <-done
	release()

	require.Error(t, err)
	assert.NotErrorIs(t, err, eventstore.ErrOutcomeUnknown, "killed before its commit: certainly not stored")
	assert.Contains(t, err.Error(), "nothing was stored")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "57P01", pgErr.Code)
	requireVersion(t, s, "killed-1", 1)

	_, err = s.AppendToStream(ctx, "killed-1", oneEvent("Second"), eventstore.ExpectVersion(1))
	require.NoError(t, err, "the store goes on with another connection")
}

// slowCommit makes the commit of an event of type SlowCommit take long: a
// deferred constraint trigger sleeps in it.
func slowCommit(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.message_type = 'SlowCommit' THEN PERFORM pg_sleep(60); END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON emt_messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();`)
	require.NoError(t, err)
}

func TestConnectionKilledWhileCommitting(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	noop := func(context.Context, pgx.Tx, string, eventstore.AppendResult) error { return nil }
	for name, opts := range map[string][]postgres.Option{
		"OneStatement":     nil,
		"WithBeforeCommit": {postgres.WithBeforeCommit(noop)},
	} {
		t.Run(name, func(t *testing.T) {
			s, db := openStore(t, opts...)
			admin := adminPool(t, db)
			slowCommit(t, admin)
			ctx := context.Background()

			done := appendAsync(s, ctx, "committing-1", oneEvent("SlowCommit"))
			terminate(t, admin, backendWaiting(t, admin, "Timeout"))
			err := <-done

			require.ErrorIs(t, err, eventstore.ErrOutcomeUnknown, "lost during the commit: the outcome is unknown")
			var unknown *postgres.OutcomeUnknownError
			require.ErrorAs(t, err, &unknown)
			assert.Equal(t, "committing-1", unknown.Stream)
			assert.Len(t, unknown.MessageIDs, 1)
			assert.Contains(t, err.Error(), "read the stream to find out")
			// Here it was not stored: the commit never completed.
			requireVersion(t, s, "committing-1", 0)
		})
	}
}

// proxy forwards TCP connections to target; once cut, it stops passing the
// server's replies on and closes the client's connection shortly after, as a
// network failure after the server received a request would.
type proxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(client)
		}
	}()
	return p
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	go func() { _, _ = io.Copy(server, client); _ = server.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if err != nil {
			_ = client.Close()
			return
		}
		if p.cut.Load() {
			time.AfterFunc(300*time.Millisecond, func() { _ = client.Close() })
			continue
		}
		if _, err := client.Write(buf[:n]); err != nil {
			_ = server.Close()
			return
		}
	}
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func TestConnectionLostAfterCommit(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	cfg, err := pgx.ParseConfig(db)
	require.NoError(t, err)
	p := newProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	viaProxy := fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&pool_max_conns=1", cfg.User, p.port(), cfg.Database)
	ctx := context.Background()
	s, err := postgres.Open(ctx, viaProxy)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	// The statement is prepared on the connection: the next append sends
	// it in one go.
	_, err = s.AppendToStream(ctx, "warm-1", oneEvent("Warm"), eventstore.ExpectNoStream())
	require.NoError(t, err)

	p.cut.Store(true)
	_, err = s.AppendToStream(ctx, "lost-1", oneEvent("Unconfirmed"), eventstore.ExpectNoStream())
	require.ErrorIs(t, err, eventstore.ErrOutcomeUnknown)
	var unknown *postgres.OutcomeUnknownError
	require.ErrorAs(t, err, &unknown)

	// Here it was stored, once: reading the stream tells.
	direct, err := postgres.Open(ctx, db)
	require.NoError(t, err)
	defer func() { _ = direct.Close() }()
	events := collect(t, direct.ReadStream(ctx, "lost-1"))
	require.Len(t, events, 1)
	assert.Equal(t, unknown.MessageIDs[0], events[0].MessageID)
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close()) // nothing listens there now
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/none?sslmode=disable&connect_timeout=5", port)

	_, err = postgres.Open(ctx, url)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	s, err := postgres.Open(ctx, url, postgres.WithoutMigration())
	require.NoError(t, err, "the pool connects lazily")
	defer func() { _ = s.Close() }()
	_, err = s.AppendToStream(ctx, "refused-1", oneEvent("E"))
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.NotErrorIs(t, err, eventstore.ErrOutcomeUnknown, "never sent: certainly not stored")
	assert.Contains(t, err.Error(), "connecting")
	_, _, err = s.StreamVersion(ctx, "refused-1")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestServerRestart(t *testing.T) {
	t.Parallel()
	// A server of the test's own, as it stops it: the package's is shared
	// by the tests running in parallel.
	srv := pgtest.NewServer(t, pgtest.Options{})
	ctx := context.Background()
	s, err := postgres.Open(ctx, srv.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.AppendToStream(ctx, "restart-1", oneEvent("Before"))
	require.NoError(t, err)

	require.NoError(t, srv.Stop())
	stopped := true
	defer func() {
		if stopped {
			require.NoError(t, srv.Start())
		}
	}()
	for i := range 3 {
		_, err = s.AppendToStream(ctx, "restart-1", oneEvent("During"))
		require.Error(t, err, "attempt %d", i)
		assert.NotErrorIs(t, err, eventstore.ErrOutcomeUnknown, "attempt %d: %v", i, err)
	}
	for _, err := range s.ReadStream(ctx, "restart-1") {
		require.Error(t, err)
		break
	}

	require.NoError(t, srv.Start())
	stopped = false
	require.Eventually(t, func() bool {
		_, err := s.AppendToStream(ctx, "restart-1", oneEvent("After"), eventstore.ExpectVersion(1))
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "the store reconnects")
	events := collect(t, s.ReadStream(ctx, "restart-1"))
	require.Len(t, events, 2, "nothing of the outage was stored")
	assert.Equal(t, []string{"Before", "After"}, []string{events[0].Type, events[1].Type})
}

func TestStatementTimeout(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	// The schema first, without the timeout: a loaded machine can take
	// longer than 200 ms over a migration's statement.
	m, err := postgres.Open(ctx, db)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	s, err := postgres.Open(ctx, db+"&statement_timeout=200", postgres.WithoutMigration())
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	admin := adminPool(t, db)
	_, err = s.AppendToStream(ctx, "timeout-1", oneEvent("First"))
	require.NoError(t, err)

	release := lockStream(t, admin, "timeout-1")
	_, err = s.AppendToStream(ctx, "timeout-1", oneEvent("Second"))
	release()
	require.Error(t, err)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "57014", pgErr.Code)
	assert.NotErrorIs(t, err, eventstore.ErrOutcomeUnknown)
	assert.Contains(t, err.Error(), "statement timeout")
	assert.Contains(t, err.Error(), "nothing was stored")
	requireVersion(t, s, "timeout-1", 1)
}

func TestContextEndsWhileAppending(t *testing.T) {
	// Not in parallel: it holds a transaction open. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx := context.Background()
	_, err := s.AppendToStream(ctx, "deadline-1", oneEvent("First"))
	require.NoError(t, err)

	release := lockStream(t, admin, "deadline-1")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = s.AppendToStream(short, "deadline-1", oneEvent("Second"))
	release()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, eventstore.ErrOutcomeUnknown, "the statement was cancelled on the server")
	assert.Contains(t, err.Error(), "nothing was stored")
	requireVersion(t, s, "deadline-1", 1)
	_, err = s.AppendToStream(ctx, "deadline-1", oneEvent("Second"), eventstore.ExpectVersion(1))
	require.NoError(t, err)
}

func TestConcurrentCreation(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	first, err := s.AppendToStream(ctx, "before-1", oneEvent("E"))
	require.NoError(t, err)
	for _, expected := range []eventstore.ExpectedVersion{eventstore.ExpectNoStream(), eventstore.ExpectVersion(0)} {
		stream := "created-" + expected.String()
		const writers = 8
		start := make(chan struct{})
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				_, errs[w] = s.AppendToStream(ctx, stream, oneEvent("Created"), expected)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for _, err := range errs {
			if err == nil {
				winners++
				continue
			}
			var conflict *eventstore.VersionConflictError
			require.ErrorAs(t, err, &conflict, "a loser gets a version conflict, not a unique violation: %v", err)
			assert.Equal(t, int64(1), conflict.Actual)
		}
		assert.Equal(t, 1, winners)
	}
	// Refused appends took no global position.
	for range 5 {
		_, err := s.AppendToStream(ctx, "before-1", oneEvent("E"), eventstore.ExpectNoStream())
		require.ErrorIs(t, err, eventstore.ErrVersionConflict)
		_, err = s.AppendToStream(ctx, "before-1", oneEvent("E"), eventstore.ExpectVersion(7))
		require.ErrorIs(t, err, eventstore.ErrVersionConflict)
		_, err = s.AppendToStream(ctx, "missing-1", oneEvent("E"), eventstore.ExpectStreamExists())
		require.ErrorIs(t, err, eventstore.ErrVersionConflict)
	}
	next, err := s.AppendToStream(ctx, "after-1", oneEvent("E"))
	require.NoError(t, err)
	assert.Equal(t, first.Position.GlobalPosition+3, next.Position.GlobalPosition, "two winners and this one: no sequence value burned")
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	_ = s.Close()
	ctx := context.Background()
	_, err := s.AppendToStream(ctx, "closed-1", oneEvent("E"))
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	_, _, err = s.StreamVersion(ctx, "closed-1")
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	for _, err := range s.ReadStream(ctx, "closed-1") {
		assert.ErrorIs(t, err, eventstore.ErrClosed)
	}
	for _, err := range s.ReadAll(ctx, eventstore.Position{}) {
		assert.ErrorIs(t, err, eventstore.ErrClosed)
	}
	assert.True(t, errors.Is(s.AddPartition(ctx, "p"), eventstore.ErrClosed))
}

// A connection whose statement a context cancelled is not reused: the
// server may deliver the cancel signal late (on a loaded machine, after
// pgx has handed the connection to the next caller), and it would cancel
// that caller's statement instead. A connection whose statements ran to
// their end is reused.
func TestCancelledConnectionIsNotReused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(t)+"&pool_max_conns=1")
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	backend := func() int32 {
		var pid int32
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		return pid
	}
	first := backend()
	require.Equal(t, first, backend(), "an idle connection is reused")

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = s.Pool().Exec(short, "SELECT pg_sleep(10)")
	require.Error(t, err)
	assert.NotEqual(t, first, backend(), "the cancelled statement's connection was closed")
}
