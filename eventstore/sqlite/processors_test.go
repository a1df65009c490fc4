package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type processorRow struct {
	checkpoint, instance, status, partition string
	version                                 int
}

func readProcessorRow(t *testing.T, db *sql.DB, id string) (processorRow, bool) {
	t.Helper()
	var r processorRow
	err := db.QueryRow(`SELECT last_processed_checkpoint, processor_instance_id, status, partition, version FROM emt_processors WHERE processor_id = ?`, id).
		Scan(&r.checkpoint, &r.instance, &r.status, &r.partition, &r.version)
	if err == sql.ErrNoRows {
		return r, false
	}
	require.NoError(t, err)
	return r, true
}

func pos(n int64) eventstore.Position { return eventstore.Position{GlobalPosition: n} }

// TestProcessorRows checks what emt_processors holds: Node's columns, the
// checkpoint as Node writes it, the lease's holder while locked.
func TestProcessorRows(t *testing.T) {
	ctx := context.Background()
	s, path := open(t, sqlite.WithSynchronous(sqlite.SyncNormal))
	db := rawDBOn(t, path)

	lock, err := s.Processors().Lock(ctx, "orders")
	require.NoError(t, err)
	row, found := readProcessorRow(t, db, "orders")
	require.True(t, found, "the lock creates the row")
	assert.Equal(t, "running", row.status)
	assert.Regexp(t, `^orders:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-`, row.instance, "instance ids are <processor>:<UUIDv7>, as Node's")
	assert.Equal(t, processorRow{checkpoint: "", instance: row.instance, status: "running", partition: eventstore.DefaultPartition, version: 1}, row)
	_, stored, err := s.Processors().ReadCheckpoint(ctx, "orders")
	require.NoError(t, err)
	assert.False(t, stored, "a row without a checkpoint is no checkpoint")

	require.NoError(t, s.Processors().Commit(ctx, "orders", pos(0), pos(42), nil))
	row, _ = readProcessorRow(t, db, "orders")
	assert.Equal(t, "0000000000000000042", row.checkpoint, "zero-padded to 19 digits, as Node writes it")
	cp, stored, err := s.Processors().ReadCheckpoint(ctx, "orders")
	require.NoError(t, err)
	assert.True(t, stored)
	assert.Equal(t, pos(42), cp)

	err = s.Processors().Commit(ctx, "orders", pos(41), pos(50), nil)
	assert.ErrorIs(t, err, projection.ErrCheckpointMoved)
	assert.Contains(t, err.Error(), "0000000000000000042")
	row, _ = readProcessorRow(t, db, "orders")
	assert.Equal(t, "0000000000000000042", row.checkpoint, "a moved checkpoint changes nothing")

	require.NoError(t, lock.Release(ctx))
	row, _ = readProcessorRow(t, db, "orders")
	assert.Equal(t, "stopped", row.status)
	assert.Equal(t, "emt:unknown", row.instance)
	require.NoError(t, lock.Release(ctx), "releasing twice is not an error")

	// Rows written by others: Node's padded form, or a plain number.
	_, err = db.Exec(`INSERT INTO emt_processors (processor_id, last_processed_checkpoint) VALUES ('node', '0000000000000000007'), ('plain', '9')`)
	require.NoError(t, err)
	cp, _, err = s.Processors().ReadCheckpoint(ctx, "node")
	require.NoError(t, err)
	assert.Equal(t, pos(7), cp)
	require.NoError(t, s.Processors().Commit(ctx, "node", pos(7), pos(8), nil), "no lock held, none live: the compare is enough")
	require.NoError(t, s.Processors().Commit(ctx, "plain", pos(9), pos(10), nil))
	row, _ = readProcessorRow(t, db, "plain")
	assert.Equal(t, "0000000000000000010", row.checkpoint)

	// Without a row, a commit from the start creates it.
	require.NoError(t, s.Processors().Commit(ctx, "fresh", pos(0), pos(3), nil))
	cp, _, err = s.Processors().ReadCheckpoint(ctx, "fresh")
	require.NoError(t, err)
	assert.Equal(t, pos(3), cp)
	assert.ErrorIs(t, s.Processors().Commit(ctx, "other", pos(5), pos(6), nil), projection.ErrCheckpointMoved)
}

// TestLockLostToAnotherInstance checks the fencing: once another instance
// took the lease, the heartbeat closes Lost and Commit changes nothing.
func TestLockLostToAnotherInstance(t *testing.T) {
	ctx := context.Background()
	s, path := open(t, sqlite.WithSynchronous(sqlite.SyncNormal), sqlite.WithLeaseTTL(250*time.Millisecond))
	db := rawDBOn(t, path)
	lock, err := s.Processors().Lock(ctx, "fenced")
	require.NoError(t, err)
	defer lock.Release(ctx)
	require.NoError(t, s.Processors().Commit(ctx, "fenced", pos(0), pos(1), nil))

	// Another instance takes the row over (as after an expiry).
	_, err = db.Exec(`UPDATE emt_processors SET processor_instance_id = 'fenced:other', last_updated = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE processor_id = 'fenced'`)
	require.NoError(t, err)

	wrote := false
	err = s.Processors().Commit(ctx, "fenced", pos(1), pos(2), func(ctx context.Context, tx projection.Tx) error {
		wrote = true
		return tx.Documents().Put(ctx, "fenced_docs", "a", []byte(`{}`))
	})
	assert.True(t, wrote)
	assert.ErrorIs(t, err, projection.ErrLockLost)
	assert.Contains(t, err.Error(), "fenced:other")
	select {
	case <-lock.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost was not closed")
	}
	row, _ := readProcessorRow(t, db, "fenced")
	assert.Equal(t, "0000000000000000001", row.checkpoint, "the fenced commit changed nothing")
	_, found, err := s.Documents().Get(ctx, "fenced_docs", "a")
	require.NoError(t, err)
	assert.False(t, found, "nor its documents")

	// The heartbeat notices a takeover by itself too.
	lock2, err := s.Processors().Lock(ctx, "watched")
	require.NoError(t, err)
	defer lock2.Release(ctx)
	_, err = db.Exec(`UPDATE emt_processors SET processor_instance_id = 'watched:other' WHERE processor_id = 'watched'`)
	require.NoError(t, err)
	select {
	case <-lock2.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat did not notice the takeover")
	}
}

// TestLockAcrossStores runs two stores on one file, as two processes
// would: one holds the lock, the other waits; a release hands it over, and
// a holder that stopped renewing loses it after the TTL.
func TestLockAcrossStores(t *testing.T) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	path := filepath.Join(t.TempDir(), "locks.db")
	openOn := func() *sqlite.Store {
		s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal), sqlite.WithLeaseTTL(ttl))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := openOn(), openOn()

	la, err := a.Processors().Lock(ctx, "shared")
	require.NoError(t, err)
	// Held: the other store waits (well past the TTL: the heartbeat keeps
	// the lease alive).
	wctx, cancel := context.WithTimeout(ctx, 3*ttl)
	_, err = b.Processors().Lock(wctx, "shared")
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	err = b.Processors().Commit(ctx, "shared", pos(0), pos(1), nil)
	assert.ErrorIs(t, err, projection.ErrLockLost, "a commit without the lock is fenced out by a live lease")

	got := make(chan projection.Lock)
	go func() {
		l, err := b.Processors().Lock(ctx, "shared")
		assert.NoError(t, err)
		got <- l
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, la.Release(ctx))
	var lb projection.Lock
	select {
	case lb = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the other store did not take the released lock")
	}
	require.NoError(t, b.Processors().Commit(ctx, "shared", pos(0), pos(1), nil))
	require.NoError(t, lb.Release(ctx))

	// A holder that died: its row says running, and nobody renews it.
	db := rawDBOn(t, path)
	_, err = db.Exec(`UPDATE emt_processors SET status = 'running', processor_instance_id = 'shared:dead', last_updated = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE processor_id = 'shared'`)
	require.NoError(t, err)
	start := time.Now()
	lb, err = b.Processors().Lock(ctx, "shared")
	require.NoError(t, err)
	waited := time.Since(start)
	defer lb.Release(ctx)
	assert.GreaterOrEqual(t, waited, ttl/2, "the dead holder's lease ran for its TTL first")
	require.NoError(t, b.Processors().Commit(ctx, "shared", pos(1), pos(2), nil), "and the checkpoint is the new holder's")
}

// TestCloseReleasesLocks checks that closing a store frees its processors'
// rows, so that another instance goes on at once.
func TestCloseReleasesLocks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "close.db")
	a, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	lock, err := a.Processors().Lock(ctx, "closing")
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, lock.Release(ctx), "releasing after Close is harmless")
	_, err = a.Processors().Lock(ctx, "closing")
	assert.ErrorIs(t, err, eventstore.ErrClosed)

	b, err := sqlite.Open(ctx, path, sqlite.WithLeaseTTL(time.Hour))
	require.NoError(t, err)
	defer b.Close()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lb, err := b.Processors().Lock(lctx, "closing")
	require.NoError(t, err, "the closed store's lock was freed, not left to expire")
	require.NoError(t, lb.Release(ctx))
}

// TestPartitionSource checks a source bound to one partition: its head,
// its counts and a projector on it see that partition only.
func TestPartitionSource(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, sqlite.WithSynchronous(sqlite.SyncNormal))
	var lastA eventstore.Position
	for i := range 30 {
		partition := "tenant-a"
		if i%3 == 0 {
			partition = "tenant-b"
		}
		data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 1, Group: partition}}, emmett.Metadata{})
		require.NoError(t, err)
		res, err := s.AppendToStream(ctx, "counter-"+partition, data, eventstore.InPartition(partition))
		require.NoError(t, err)
		if partition == "tenant-a" {
			lastA = res.Position
		}
	}
	// The last events are tenant-b's: the partition's head is before the
	// log's.
	data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 1}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = s.AppendToStream(ctx, "counter-tenant-b", data, eventstore.InPartition("tenant-b"))
	require.NoError(t, err)

	src := s.Source(projection.PollPartition("tenant-a"), projection.PollBatchSize(7))
	head, err := src.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, lastA, head)
	all, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, pos(31), all)
	n, err := src.(projection.Counter).Count(ctx, eventstore.Position{}, head)
	require.NoError(t, err)
	assert.Equal(t, int64(20), n)
	n, err = s.Count(ctx, pos(10), pos(20))
	require.NoError(t, err)
	assert.Equal(t, int64(10), n)

	counters := projectiontest.Counters("tenant_counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, counters)
	var last projection.Progress
	require.NoError(t, p.ResetAndRebuild(ctx, func(pr projection.Progress) { last = pr }), "a rebuild ends at the partition's head")
	assert.Equal(t, projection.Progress{Done: 20, Total: 20}, last)
	docs, err := counters.Collection(s.Documents()).Find(ctx)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	assert.Equal(t, 20, docs[0].Total)
}

func TestMigrationAddsPartitionIndex(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	// Take the database back to version 1.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`DROP INDEX emt_messages_partition_global; DROP INDEX emt_messages_stream_message_id; DROP TABLE emt_parked_messages; DROP TABLE emt_instances; DELETE FROM emt_migrations WHERE version >= 2`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	assert.Equal(t, []int{1}, migrationsOf(t, path))

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, upTo(sqlite.SchemaVersion), migrationsOf(t, path))
	db = rawDBOn(t, path)
	var sqlText string
	require.NoError(t, db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'emt_messages_partition_global'`).Scan(&sqlText))
	assert.True(t, strings.Contains(sqlText, "(partition, global_position)"), sqlText)
}

// sleepy is a projection whose first batch takes longer than the lease
// TTL.
type sleepy struct {
	projection.Projection
	pause time.Duration
	once  sync.Once
}

func (p *sleepy) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	p.once.Do(func() { time.Sleep(p.pause) })
	return p.Projection.Handle(ctx, tx, events)
}

// TestLongBatchKeepsTheLock checks that a batch longer than the lease TTL
// does not lose the lock: the heartbeat waits for the writer the batch
// holds, and nobody else can take the lease meanwhile.
func TestLongBatchKeepsTheLock(t *testing.T) {
	ctx := context.Background()
	const ttl = 200 * time.Millisecond
	s, _ := open(t, sqlite.WithSynchronous(sqlite.SyncNormal), sqlite.WithLeaseTTL(ttl))
	head := appendBacklog(t, s, 300, 5)
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(100)),
		&sleepy{Projection: projectiontest.Counters("sleepy"), pause: 3 * ttl})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	waitOrStop(t, wctx, p, head, done)
	time.Sleep(2 * ttl) // heartbeats after the long batch
	cancel()
	require.NoError(t, <-done, "the processor was not stopped by a lost lock")
	projectiontest.RequireCountersMatchReplay(t, s, "sleepy")
}

// waitOrStop waits for p to process pos, failing if its Run (reporting to
// done) stops first.
func waitOrStop(t *testing.T, ctx context.Context, p *projection.Processor, pos eventstore.Position, done chan error) {
	t.Helper()
	waited := make(chan error, 1)
	go func() { waited <- p.WaitFor(ctx, pos) }()
	select {
	case err := <-waited:
		require.NoError(t, err)
	case err := <-done:
		done <- err
		t.Fatalf("the processor stopped: %v", err)
	}
}
