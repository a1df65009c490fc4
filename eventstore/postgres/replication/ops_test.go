package replication_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dedicatedServer starts a server of the test's own with more settings.
func dedicatedServer(t *testing.T, settings map[string]string) *pgtest.Server {
	t.Helper()
	if settings["synchronous_commit"] == "" {
		settings["synchronous_commit"] = "on"
	}
	return pgtest.NewServer(t, pgtest.Options{Settings: settings})
}

// runThrough runs the processor once for the whole test: Run must
// outlive a restart of the server (it loses its lock session, waits for
// the server, takes the lock again and resumes), and return nil only when
// the test ends.
func runThrough(t *testing.T, p *projection.Processor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			t.Errorf("processor %s returned before the test ended: %v", p.ID(), err)
			return
		default:
		}
		cancel()
		assert.NoError(t, <-done)
	})
}

// The server stops and starts while writers append and the processor
// streams: the source reconnects, the processor resumes from its
// checkpoint, and the read model ends equal to a fresh replay.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dedicatedServer(t, map[string]string{})
	url := srv.NewDatabase(t)
	s := openStore(t, url)
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters", replication.WithBatchSize(50))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl, projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 5, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second}))
	runThrough(t, p)
	docs := projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "counter_docs"), projectiontest.Counters("counter_docs"),
		projection.WithProcessorID("counter_docs"), projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 5, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second}))
	runThrough(t, docs)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.AppendToStream(ctx, fmt.Sprintf("counter-%d", (w*5+i)%20), increments(1+i%3)); err != nil {
					time.Sleep(50 * time.Millisecond) // the server is down: its outcome is in the log or not
				} else {
					appended.Add(1)
				}
			}
		})
	}
	// The writers append before the restart and after it, for as long as
	// it takes them to.
	appendsGoOn := func(msg string) {
		t.Helper()
		from := appended.Load()
		require.Eventually(t, func() bool { return appended.Load() >= from+20 }, waitLimit, 5*time.Millisecond, msg)
	}
	appendsGoOn("appends before the restart")
	require.NoError(t, srv.Restart())
	appendsGoOn("appends after the restart")
	close(stop)
	wg.Wait()

	var head eventstore.Position
	require.Eventually(t, func() bool {
		var err error
		head, err = src.Head(ctx)
		return err == nil
	}, waitLimit, 50*time.Millisecond)
	waitFor(t, p, head)
	waitFor(t, docs, head)
	requireEqualReplay(t, s, tl)
	projectiontest.RequireCountersMatchReplay(t, s, "counter_docs")
}

// A slot that falls behind max_slot_wal_keep_size is invalidated by the
// server: the processor stops with a *SlotError matching
// ErrSlotInvalidated, and a rebuild (a new slot, the table replayed in its
// snapshot) brings it back, equal to a fresh replay.
func TestSlotInvalidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dedicatedServer(t, map[string]string{"max_slot_wal_keep_size": "1MB"})
	s := openStore(t, srv.NewDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	r := start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 3).Position)
	require.NoError(t, r.stop(t))

	// Past the slot's reach: WAL in segments the server may recycle, a
	// checkpoint to recycle them.
	_, err := s.Pool().Exec(ctx, "CREATE TABLE filler (x text)")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for range 3 {
			_, err := s.Pool().Exec(ctx, "INSERT INTO filler SELECT repeat('x', 100) FROM generate_series(1, 100)")
			require.NoError(t, err)
			_, err = s.Pool().Exec(ctx, "SELECT pg_switch_wal()")
			require.NoError(t, err)
		}
		_, err := s.Pool().Exec(ctx, "CHECKPOINT")
		require.NoError(t, err)
		st, err := src.Status(ctx)
		require.NoError(t, err)
		return st.WALStatus == "lost"
	}, waitLimit, 10*time.Millisecond, "the server invalidates the slot")
	last := appendTo(t, s, "a-2", 2).Position

	r = start(t, p)
	select {
	case <-r.done:
	case <-time.After(waitLimit):
		t.Fatal("the processor did not stop")
	}
	var serr *replication.SlotError
	require.ErrorAs(t, r.err, &serr)
	require.ErrorIs(t, r.err, replication.ErrSlotInvalidated)
	assert.Contains(t, r.err.Error(), "Rebuild")
	t.Logf("the error: %v", r.err)

	var progress projection.Progress
	require.NoError(t, p.ResetAndRebuild(ctx, func(pr projection.Progress) { progress = pr }))
	st, err := src.Status(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, "lost", st.WALStatus, "a new slot")
	assert.Equal(t, int64(5), progress.Total)
	start(t, p)
	waitFor(t, p, last)
	waitFor(t, p, appendTo(t, s, "a-3", 1).Position)
	requireEqualReplay(t, s, tl)
}

// Without wal_level=logical, Auto falls back to the store's polling source
// and says why; the polling fallback refuses a checkpoint of the stream.
func TestFallbackToPolling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dedicatedServer(t, map[string]string{"wal_level": "replica"})
	s := openStore(t, srv.NewDatabase(t))
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	src, err := replication.Auto(ctx, s, "counters", replication.WithLogger(logger))
	require.NoError(t, err)
	_, isReplication := src.(*replication.Source)
	assert.False(t, isReplication)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "projection feed: polling")
	assert.Contains(t, logs.String(), `wal_level is \"replica\"`)
	t.Log(strings.TrimSpace(logs.String()))

	tl := newTally(t, s.Pool(), "counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	appendTo(t, s, "a-1", 2)
	waitFor(t, p, appendTo(t, s, "a-2", 3).Position)
	requireEqualReplay(t, s, tl)

	err = src.Subscribe(ctx, eventstore.Position{LSN: 0x1000000, TransactionID: 5, GlobalPosition: 7}, func(context.Context, projection.Batch) error { return nil })
	require.ErrorIs(t, err, replication.ErrCheckpointUnreachable)
}

// Auto picks replication where it is available, and says so; a role
// without the REPLICATION attribute cannot use it.
func TestAutoAndCheck(t *testing.T) {
	// Not in parallel: it sets slog's default logger for a moment, which
	// the other tests' processors may log to.
	ctx := context.Background()
	url := newDatabase(t)
	s := openStore(t, url)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	src, err := replication.Auto(ctx, s, "counters", replication.WithLogger(logger))
	require.NoError(t, err)
	require.IsType(t, &replication.Source{}, src)
	assert.Contains(t, logs.String(), "projection feed: logical replication")
	t.Cleanup(func() { _ = src.(*replication.Source).DropSlot(context.Background()) })

	// Without a logger of its own, the library logs nothing below warnings,
	// even where the application's default logger takes debug records.
	var defaultLogs bytes.Buffer
	previous := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&defaultLogs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	_, err = replication.Auto(ctx, s, "counters")
	slog.SetDefault(previous)
	require.NoError(t, err)
	assert.Empty(t, defaultLogs.String())

	role := fmt.Sprintf("app_%d", time.Now().UnixNano())
	_, err = s.Pool().Exec(ctx, "CREATE ROLE "+role+" LOGIN")
	require.NoError(t, err)
	appURL := strings.Replace(url, "postgres@", role+"@", 1)
	app, err := postgres.Open(ctx, appURL, postgres.WithoutMigration())
	require.NoError(t, err)
	defer app.Close()
	appSource, err := replication.NewSource(app, "counters")
	require.NoError(t, err)
	err = appSource.Check(ctx)
	require.ErrorIs(t, err, replication.ErrUnavailable)
	assert.Contains(t, err.Error(), "REPLICATION")
}

// A dropped replication connection (here its walsender is ended) is
// reconnected with backoff within the same run of the processor.
func TestReconnectsAfterTheConnectionDrops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	r := start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 2).Position)
	for range 2 {
		var pid int32
		require.Eventually(t, func() bool {
			st, err := src.Status(ctx)
			require.NoError(t, err)
			pid = st.ActivePID
			return pid != 0
		}, waitLimit, time.Millisecond, "the source streams")
		_, err := s.Pool().Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
		require.NoError(t, err)
		appendTo(t, s, "a-2", 1)
		waitFor(t, p, appendTo(t, s, "a-1", 2).Position)
	}
	select {
	case <-r.done:
		t.Fatalf("the processor stopped: %v", r.err)
	default:
	}
	requireEqualReplay(t, s, tl)
}

// On a server whose replication slots are all taken, a source whose slot
// does not exist is reported unavailable by Check (Auto falls back to
// polling and says why), and stops, instead of retrying, when it has to
// create its slot; one whose slot exists runs. On one whose WAL senders
// are all taken, Check reports that.
func TestNoFreeSlotOrWALSender(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dedicatedServer(t, map[string]string{"max_replication_slots": "2", "max_wal_senders": "2"})
	url := srv.NewDatabase(t)
	s := openStore(t, url)
	kept := newSource(t, s, "kept")
	_, err := kept.Head(ctx) // creates its slot
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, "SELECT pg_create_logical_replication_slot('other_app', 'pgoutput')")
	require.NoError(t, err)
	dropOther := func() {
		_, err := s.Pool().Exec(ctx, "SELECT pg_drop_replication_slot('other_app') FROM pg_replication_slots WHERE slot_name = 'other_app'")
		require.NoError(t, err)
	}
	t.Cleanup(dropOther)

	require.NoError(t, kept.Check(ctx), "a source whose slot exists needs no free one")
	src := newSource(t, s, "counters")
	err = src.Check(ctx)
	require.ErrorIs(t, err, replication.ErrUnavailable)
	require.ErrorIs(t, err, replication.ErrNoFreeSlot)
	assert.Contains(t, err.Error(), "max_replication_slots is 2 and 2 slots exist")
	t.Logf("the error: %v", err)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	auto, err := replication.Auto(ctx, s, "counters", replication.WithLogger(logger))
	require.NoError(t, err)
	assert.NotEqual(t, reflect.TypeFor[*replication.Source](), reflect.TypeOf(auto), "the polling feed")
	assert.Contains(t, logs.String(), "projection feed: polling")
	assert.Contains(t, logs.String(), "no replication slot is free")

	// Subscribe stops at once with the error, from the start (a slot with
	// a snapshot) or from the end (Head makes one without).
	tl := newTally(t, s.Pool(), "counters")
	r := start(t, projection.NewProjectionProcessor(s.Processors(), src, tl))
	select {
	case <-r.done:
	case <-time.After(waitLimit):
		t.Fatal("the processor did not stop")
	}
	require.ErrorIs(t, r.err, replication.ErrNoFreeSlot)
	assert.Contains(t, r.err.Error(), "SQLSTATE 53400")
	_, err = src.Head(ctx)
	require.ErrorIs(t, err, replication.ErrNoFreeSlot)

	// A free slot: replication runs.
	dropOther()
	require.NoError(t, src.Check(ctx))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 2).Position)
	requireEqualReplay(t, s, tl)

	// Both WAL senders taken: the processor's and another.
	var other *pgconn.PgConn
	require.Eventually(t, func() bool { // the senders of Check's own connections end
		other, err = pgconn.Connect(ctx, srv.ReplicationURL(s.Pool().Config().ConnConfig.Database))
		return err == nil
	}, waitLimit, 10*time.Millisecond)
	defer other.Close(ctx)
	_, err = pglogrepl.IdentifySystem(ctx, other)
	require.NoError(t, err)
	require.Eventually(t, func() bool { // both show in pg_stat_replication
		var n int
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication").Scan(&n))
		return n == 2
	}, waitLimit, 10*time.Millisecond)
	err = kept.Check(ctx)
	require.ErrorIs(t, err, replication.ErrUnavailable)
	assert.NotErrorIs(t, err, replication.ErrNoFreeSlot)
	assert.Contains(t, err.Error(), "max_wal_senders is 2 and 2 run")
	require.NoError(t, other.Close(ctx))
	require.Eventually(t, func() bool { return kept.Check(ctx) == nil }, waitLimit, 10*time.Millisecond, "a free WAL sender")
}

// A walsender that hears nothing from its client for wal_sender_timeout
// ends the connection; it asks for a reply (a keepalive with the reply
// flag) before that. With the source's own status updates an hour apart,
// only its answers to those requests keep an idle connection open: the
// walsender serving the slot stays the same.
func TestAnswersTheServersReplyRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dedicatedServer(t, map[string]string{"wal_sender_timeout": "2s"})
	s := openStore(t, srv.NewDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters", replication.WithStatusInterval(time.Hour))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 1).Position)

	walsender := func() int32 {
		t.Helper()
		var pid *int32
		require.Eventually(t, func() bool {
			require.NoError(t, s.Pool().QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", src.Slot()).Scan(&pid))
			return pid != nil
		}, waitLimit, 10*time.Millisecond, "the slot is in use")
		return *pid
	}
	before := walsender()
	time.Sleep(6 * time.Second) // three times the timeout, idle
	assert.Equal(t, before, walsender(), "the same walsender: the connection was never timed out")
	waitFor(t, p, appendTo(t, s, "a-1", 1).Position)
	requireEqualReplay(t, s, tl)
}
