package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeKeyR1 is Emmett for Node's advisory lock key of the reactor "r1" in
// the default partition, version 1, as captured from Node 0.42.
const nodeKeyR1 int64 = 2423540009671664245

// lockHolder returns the backend pid holding the advisory lock key, or 0.
func lockHolder(t *testing.T, admin *pgxpool.Pool, key int64) int {
	t.Helper()
	var pid int
	err := admin.QueryRow(context.Background(), `SELECT coalesce(max(pid), 0) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, key).Scan(&pid)
	require.NoError(t, err)
	return pid
}

type processorRow struct {
	Checkpoint, Instance, Status string
	TransactionID                uint64
}

func readProcessorRow(t *testing.T, admin *pgxpool.Pool, id string) processorRow {
	t.Helper()
	var r processorRow
	err := admin.QueryRow(context.Background(), `SELECT last_processed_checkpoint, coalesce(processor_instance_id, ''), status, last_processed_transaction_id
FROM emt_processors WHERE processor_id = $1 AND partition = 'emt:default' AND version = 1`, id).Scan(&r.Checkpoint, &r.Instance, &r.Status, &r.TransactionID)
	require.NoError(t, err)
	return r
}

// TestProcessorRowsAndLockAsNode checks the processor's row in
// emt_processors through a lock, a checkpoint and a release, and that the
// lock is the advisory lock Node takes for the same processor.
func TestProcessorRowsAndLockAsNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := openStore(t)
	admin := adminPool(t, db)
	res := projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1}, projectiontest.Incremented{By: 2})

	l, err := s.Processors().Lock(ctx, "r1")
	require.NoError(t, err)
	assert.NotZero(t, lockHolder(t, admin, nodeKeyR1), "the advisory lock of Node's key for r1 is held")
	row := readProcessorRow(t, admin, "r1")
	assert.Equal(t, "running", row.Status)
	assert.True(t, strings.HasPrefix(row.Instance, "emt-go:r1:"), row.Instance)
	assert.Equal(t, "", row.Checkpoint, "nothing processed yet")

	// Node's own lock function cannot take the processor meanwhile.
	var acquired bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT acquired FROM emt_try_acquire_processor_lock($1, 'r1', 1, 'emt:default', 'r1:node-instance')`, nodeKeyR1).Scan(&acquired))
	assert.False(t, acquired, "Node's emt_try_acquire_processor_lock fails while a Go instance holds the lock")

	to := res.Position
	require.NoError(t, s.Processors().Commit(ctx, "r1", eventstore.Position{}, to, nil))
	row = readProcessorRow(t, admin, "r1")
	assert.Equal(t, fmt.Sprintf("%020d:%019d", to.TransactionID, to.GlobalPosition), row.Checkpoint, "Node 0.43's padded form")
	assert.Equal(t, to.TransactionID, row.TransactionID, "the xid8 of the position")
	cp, found, err := s.Processors().ReadCheckpoint(ctx, "r1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, to, cp)
	parsed, err := eventstore.ParsePosition(row.Checkpoint)
	require.NoError(t, err)
	assert.Equal(t, to, parsed, "eventstore.ParsePosition reads the stored text")

	err = s.Processors().Commit(ctx, "r1", eventstore.Position{}, to, nil)
	assert.ErrorIs(t, err, projection.ErrCheckpointMoved)

	require.NoError(t, l.Release(ctx))
	assert.Zero(t, lockHolder(t, admin, nodeKeyR1))
	row = readProcessorRow(t, admin, "r1")
	assert.Equal(t, "stopped", row.Status)
	assert.Equal(t, "emt:unknown", row.Instance)
	require.NoError(t, l.Release(ctx), "releasing twice is not an error")
}

// TestProcessorWaitsForNode checks that a Go instance does not take a
// processor a Node instance runs, until Node releases it.
func TestProcessorWaitsForNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := openStore(t)
	admin := adminPool(t, db)
	var acquired bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT acquired FROM emt_try_acquire_processor_lock($1, 'r1', 1, 'emt:default', 'r1:node-instance')`, nodeKeyR1).Scan(&acquired))
	require.True(t, acquired)

	wait, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	_, err := s.Processors().Lock(wait, "r1")
	require.ErrorIs(t, err, context.DeadlineExceeded, "a running Node instance keeps the processor")

	_, err = admin.Exec(ctx, `SELECT emt_release_processor_lock($1, 'r1', 'emt:default', 1, 'r1:node-instance')`, nodeKeyR1)
	require.NoError(t, err)
	got, err := s.Processors().Lock(ctx, "r1")
	require.NoError(t, err, "free once Node released it")
	require.NoError(t, got.Release(ctx))
}

// TestProcessorTakeoverWhenSessionDies runs a processor in two instances,
// on separate pools as two processes would: one runs, the other waits;
// when the first's lock connection is killed, its lock is lost, it stops
// processing and waits for the lock again (Run does not return), and an
// instance takes over within a few seconds and catches up.
func TestProcessorTakeoverWhenSessionDies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, db := openStore(t)
	second, err := postgres.Open(ctx, db)
	require.NoError(t, err)
	t.Cleanup(func() { _ = second.Close() })
	admin := adminPool(t, db)

	counters := projectiontest.Counters("counters")
	projectiontest.Append(t, first, "counter-1", projectiontest.Incremented{By: 1})
	p1 := projection.NewProjectionProcessor(first.Processors(), first.Source(projection.PollInterval(50*time.Millisecond)), counters)
	p2 := projection.NewProjectionProcessor(second.Processors(), second.Source(projection.PollInterval(50*time.Millisecond)), counters)
	done1, done2 := make(chan error, 1), make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { done1 <- p1.Run(runCtx) }()
	require.Eventually(t, func() bool { _, ok := p1.Checkpoint(); return ok }, 10*time.Second, 5*time.Millisecond)
	go func() { done2 <- p2.Run(runCtx) }()

	last := projectiontest.Append(t, first, "counter-1", projectiontest.Incremented{By: 2}).Position
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, p1.WaitFor(waitCtx, last))
	time.Sleep(200 * time.Millisecond)
	_, running := p2.Checkpoint()
	assert.False(t, running, "only one instance runs")

	key := lockKeyOf(t, admin, "counters")
	pid := lockHolder(t, admin, key)
	require.NotZero(t, pid)
	var killed bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed))
	require.True(t, killed)
	killedAt := time.Now()

	// The first instance notices within seconds, and waits for the lock
	// again instead of stopping: one of the two (whichever takes the lock
	// first) goes on.
	require.Eventually(t, func() bool { _, running := p1.Checkpoint(); return !running }, 10*time.Second, 5*time.Millisecond,
		"the first instance notices it lost its lock")
	var runner *projection.Processor
	require.Eventually(t, func() bool {
		for _, p := range []*projection.Processor{p1, p2} {
			if _, ok := p.Checkpoint(); ok {
				runner = p
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "an instance takes over within a few seconds")
	t.Logf("taken over %v after the kill (by the first instance again: %v)", time.Since(killedAt).Round(time.Millisecond), runner == p1)
	select {
	case err := <-done1:
		t.Fatalf("the first instance stopped: %v", err)
	default:
	}

	last = projectiontest.Append(t, second, "counter-2", projectiontest.Incremented{By: 5}).Position
	require.NoError(t, runner.WaitFor(waitCtx, last))
	docs := counters.Collection(second.Documents())
	c1, _, err := docs.Get(ctx, "counter-1")
	require.NoError(t, err)
	c2, _, err := docs.Get(ctx, "counter-2")
	require.NoError(t, err)
	assert.Equal(t, 3, c1.Total, "nothing applied twice")
	assert.Equal(t, 5, c2.Total)
	stop()
	require.NoError(t, <-done1)
	require.NoError(t, <-done2)
}

// lockKeyOf finds the key of the processor lock a store holds for id, from
// the pg_locks of the session whose row says it runs it.
func lockKeyOf(t *testing.T, admin *pgxpool.Pool, id string) int64 {
	t.Helper()
	var key int64
	require.Eventually(t, func() bool {
		err := admin.QueryRow(context.Background(), `SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND EXISTS (SELECT 1 FROM emt_processors WHERE processor_id = $1 AND status = 'running')
LIMIT 1`, id).Scan(&key)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	return key
}

// TestLockLostAndFenced checks a lock whose session dies directly: Lost is
// closed within about a second, a Commit through it fails with
// ErrLockLost, and another store takes the lock at once.
func TestLockLostAndFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, db := openStore(t)
	b, err := postgres.Open(ctx, db)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	admin := adminPool(t, db)

	la, err := a.Processors().Lock(ctx, "fenced")
	require.NoError(t, err)
	require.NoError(t, a.Processors().Commit(ctx, "fenced", eventstore.Position{}, eventstore.Position{TransactionID: 10, GlobalPosition: 1}, nil))

	// Another store cannot commit while the lock is held.
	err = b.Processors().Commit(ctx, "fenced", eventstore.Position{TransactionID: 10, GlobalPosition: 1}, eventstore.Position{TransactionID: 11, GlobalPosition: 2}, nil)
	assert.ErrorIs(t, err, projection.ErrLockLost)

	var acquired atomic.Bool
	lbCh := make(chan projection.Lock, 1)
	go func() {
		l, err := b.Processors().Lock(ctx, "fenced")
		if err == nil {
			acquired.Store(true)
			lbCh <- l
		}
	}()
	time.Sleep(100 * time.Millisecond)
	assert.False(t, acquired.Load(), "b waits")

	pid := lockHolder(t, admin, processorKey("fenced"))
	_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	select {
	case <-la.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost was not closed")
	}
	var lb projection.Lock
	select {
	case lb = <-lbCh:
	case <-time.After(5 * time.Second):
		t.Fatal("b did not take the lock over")
	}
	err = a.Processors().Commit(ctx, "fenced", eventstore.Position{TransactionID: 10, GlobalPosition: 1}, eventstore.Position{TransactionID: 12, GlobalPosition: 3}, nil)
	assert.ErrorIs(t, err, projection.ErrLockLost, "the lost lock's commits are fenced off")
	require.NoError(t, b.Processors().Commit(ctx, "fenced", eventstore.Position{TransactionID: 10, GlobalPosition: 1}, eventstore.Position{TransactionID: 13, GlobalPosition: 4}, nil))
	require.NoError(t, la.Release(ctx), "releasing a lost lock is not an error")
	require.NoError(t, lb.Release(ctx))

	// The row taken over behind a lock's back: its next commit is fenced
	// off and Lost closes.
	la, err = a.Processors().Lock(ctx, "fenced")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `UPDATE emt_processors SET processor_instance_id = 'someone-else' WHERE processor_id = 'fenced'`)
	require.NoError(t, err)
	err = a.Processors().Commit(ctx, "fenced", eventstore.Position{TransactionID: 13, GlobalPosition: 4}, eventstore.Position{TransactionID: 14, GlobalPosition: 5}, nil)
	assert.ErrorIs(t, err, projection.ErrLockLost)
	select {
	case <-la.Lost():
	default:
		t.Fatal("Lost was not closed")
	}
	cp, _, err := a.Processors().ReadCheckpoint(ctx, "fenced")
	require.NoError(t, err)
	assert.Equal(t, eventstore.Position{TransactionID: 13, GlobalPosition: 4}, cp)
}

// processorKey is Node's hashText of the processor's lock name.
func processorKey(id string) int64 { return postgres.ProcessorLockKey(id) }

// TestReadNode042Checkpoint checks that a checkpoint Emmett for Node 0.42
// wrote (a global position alone) resumes after that event's transaction,
// and that a Commit from it moves it on.
func TestReadNode042Checkpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := openStore(t)
	admin := adminPool(t, db)
	first := projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 1}, projectiontest.Incremented{By: 2})
	last := projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 4}).Position
	_, err := admin.Exec(ctx, `INSERT INTO emt_processors (processor_id, version, partition, status, last_processed_checkpoint, last_processed_transaction_id, processor_instance_id)
VALUES ('counters', 1, 'emt:default', 'stopped', $1, '0', 'emt:unknown')`, fmt.Sprintf("%019d", first.Position.GlobalPosition))
	require.NoError(t, err)

	cp, found, err := s.Processors().ReadCheckpoint(ctx, "counters")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, first.Position, cp, "the position of the event, with its transaction")

	counters := projectiontest.Counters("counters")
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(), counters)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, p.WaitFor(waitCtx, last))
	stop()
	require.NoError(t, <-done)
	c, _, err := counters.Collection(s.Documents()).Get(ctx, "counter-1")
	require.NoError(t, err)
	assert.Equal(t, 4, c.Total, "only what came after the checkpoint")
}

// TestCloseReleasesLocks checks that closing a store that holds processor
// locks releases them at once (and does not wait for their connections).
func TestCloseReleasesLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := openStore(t)
	other, err := postgres.Open(ctx, db)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	l, err := s.Processors().Lock(ctx, "closing")
	require.NoError(t, err)
	closed := make(chan struct{})
	go func() {
		_ = s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the lock")
	}
	require.NoError(t, l.Release(ctx))
	lockCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	l, err = other.Processors().Lock(lockCtx, "closing")
	require.NoError(t, err, "the lock was released")
	require.NoError(t, l.Release(ctx))
	_, err = s.Processors().Lock(ctx, "closing")
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	err = s.Processors().Commit(ctx, "closing", eventstore.Position{}, eventstore.Position{}, nil)
	assert.True(t, errors.Is(err, eventstore.ErrClosed), "%v", err)
}
