package replication_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pglogrepl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendConcurrently runs writers appending 1 to 4 events at a time to
// random streams until stop is closed, and returns how many appends were
// made.
func appendConcurrently(t *testing.T, append func(stream string, n int) error, writers int, stop <-chan struct{}) func() int64 {
	t.Helper()
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := append(fmt.Sprintf("counter-%d", (w*7+i)%40), 1+i%4); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				n.Add(1)
			}
		})
	}
	return func() int64 { wg.Wait(); return n.Load() }
}

// Eight writers append for ten seconds (two with -short) while a projector
// runs on the stream: the read model ends equal to a fresh replay.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	duration := 10 * time.Second
	if testing.Short() {
		duration = 2 * time.Second
	}
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	for i := range 20 {
		appendTo(t, s, fmt.Sprintf("counter-%d", i), 2)
	}
	src := newSource(t, s, "counters", replication.WithBatchSize(200))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	r := start(t, p)
	// The same events into JSON documents, by a second processor.
	docs := projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "counter_docs"), projectiontest.Counters("counter_docs"),
		projection.WithProcessorID("counter_docs"))
	start(t, docs)
	stop := make(chan struct{})
	wait := appendConcurrently(t, func(stream string, n int) error {
		_, err := s.AppendToStream(ctx, stream, increments(n))
		return err
	}, 8, stop)
	time.Sleep(duration)
	close(stop)
	appends := wait()
	head, err := src.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	waitFor(t, docs, head)
	requireEqualReplay(t, s, tl)
	projectiontest.RequireCountersMatchReplay(t, s, "counter_docs")
	select {
	case <-r.done:
		t.Fatalf("the processor stopped: %v", r.err)
	default:
	}
	t.Logf("%d appends by 8 writers in %v", appends, duration)
}

// WaitFor returns as soon as the processor applied the append, here and in
// an instance that does not run the processor, without waiting for a
// periodic keepalive.
func TestWaitForIsPrompt(t *testing.T) {
	t.Parallel()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters", replication.WithStatusInterval(10*time.Second))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	waitFor(t, p, appendTo(t, s, "warmup-1", 1).Position)
	// Another instance: its processor waits for the lock, its WaitFor reads
	// the stored checkpoint.
	otherSource, err := replication.NewSource(s, "counters")
	require.NoError(t, err)
	other := projection.NewProjectionProcessor(s.Processors(), otherSource, tl, projection.WithWaitPollInterval(5*time.Millisecond))

	n := 40
	if testing.Short() {
		n = 15
	}
	// Once WaitFor returns, the read model has the append: it never
	// returns early.
	applied := func(res eventstore.AppendResult) {
		t.Helper()
		stream := res.Events[0].StreamName
		assert.Equal(t, res.NextExpectedVersion, tl.read(t, s.Pool())[stream].Count, "the append to %s is applied when WaitFor returns", stream)
	}
	var local, remote, idle []time.Duration
	for i := range n {
		res := appendTo(t, s, fmt.Sprintf("a-%d", i%3), 1)
		local = append(local, waitFor(t, p, res.Position))
		applied(res)
		res = appendTo(t, s, fmt.Sprintf("b-%d", i%3), 1)
		remote = append(remote, waitFor(t, other, res.Position))
		applied(res)
	}
	// WAL written after the append that no transaction of the feed ends
	// at: the processor must learn the server's position to get there.
	for i := range n / 2 {
		res := appendTo(t, s, fmt.Sprintf("c-%d", i%3), 1)
		_, err := s.Pool().Exec(context.Background(), "CREATE TABLE IF NOT EXISTS noise (x int); INSERT INTO noise VALUES (1)")
		require.NoError(t, err)
		idle = append(idle, waitFor(t, p, res.Position))
		applied(res)
	}
	requireEqualReplay(t, s, tl)
	t.Logf("WaitFor in the processor's instance: %s", summary(local))
	t.Logf("WaitFor in another instance (checkpoint read every 5ms): %s", summary(remote))
	t.Logf("WaitFor with unrelated WAL after the append: %s", summary(idle))
}

func summary(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(f float64) time.Duration {
		return s[min(int(f*float64(len(s))), len(s)-1)].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v, p90 %v, max %v (%d waits)", q(0.5), q(0.9), s[len(s)-1].Round(10*time.Microsecond), len(s))
}

// An idle slot moves on: when only other tables are written, the processor
// checkpoints the server's position and the slot's confirmed_flush_lsn
// follows, so that it does not retain WAL for nothing.
func TestIdleSlotAdvances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters", replication.WithIdleAdvance(
		32<<10,        // an advance once that much WAL went by...
		2*time.Second, // ...or after that long, for the rest
	))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 1).Position)
	before, err := src.Status(ctx)
	require.NoError(t, err)

	_, err = s.Pool().Exec(ctx, "CREATE TABLE other_app (x text); INSERT INTO other_app SELECT repeat('x', 1000) FROM generate_series(1, 500)")
	require.NoError(t, err)
	var after string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&after))
	written, err := pglogrepl.ParseLSN(after)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := src.Status(ctx)
		require.NoError(t, err)
		return st.ConfirmedFlushLSN >= written
	}, 30*time.Second, 20*time.Millisecond, "the slot's confirmed_flush_lsn reaches WAL written by others")
	st, err := src.Status(ctx)
	require.NoError(t, err)
	cp, _ := p.Checkpoint()
	t.Logf("confirmed_flush_lsn %s -> %s (other WAL up to %s), retained %d bytes, lag %d bytes, checkpoint %s",
		before.ConfirmedFlushLSN, st.ConfirmedFlushLSN, written, st.RetainedBytes, st.LagBytes, cp)
	assert.GreaterOrEqual(t, cp.LSN, uint64(written), "the processor checkpointed the server's position")
	requireEqualReplay(t, s, tl)
}

// A processor that starts from the end gets only what is appended after
// it, and one that starts after a position of the table's order gets what
// comes after it, then the stream.
func TestStartPositions(t *testing.T) {
	t.Parallel()
	s := openStore(t, newDatabase(t))
	appendTo(t, s, "old-1", 3)
	mid := appendTo(t, s, "old-2", 2).Position
	appendTo(t, s, "old-3", 1)

	fromEnd := newTally(t, s.Pool(), "from_end")
	p := projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "from_end"), fromEnd, projection.StartFromEnd())
	start(t, p)
	after := newTally(t, s.Pool(), "after")
	pa := projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "after"), after, projection.StartAfter(mid))
	start(t, pa)
	require.Eventually(t, func() bool { _, ok := p.Checkpoint(); return ok }, waitLimit, time.Millisecond)
	last := appendTo(t, s, "new-1", 2).Position
	waitFor(t, p, last)
	waitFor(t, pa, last)
	assert.Equal(t, map[string]counter{"new-1": {Count: 2, Last: 2, Total: 3}}, fromEnd.read(t, s.Pool()))
	assert.Equal(t, map[string]counter{"old-3": {Count: 1, Last: 1, Total: 1}, "new-1": {Count: 2, Last: 2, Total: 3}}, after.read(t, s.Pool()))
}

// A rebuild while appends go on recreates the slot with a new snapshot,
// replays the table and joins the stream: equal to a fresh replay.
func TestRebuildWhileAppending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	for i := range 300 {
		appendTo(t, s, fmt.Sprintf("counter-%d", i%25), 1+i%3)
	}
	src := newSource(t, s, "counters", replication.WithBatchSize(100))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	head, err := src.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	_, err = s.Pool().Exec(ctx, "UPDATE "+tl.table+" SET total = -1") // spoil the read model
	require.NoError(t, err)
	before, err := src.Status(ctx)
	require.NoError(t, err)

	stop := make(chan struct{})
	wait := appendConcurrently(t, func(stream string, n int) error {
		_, err := s.AppendToStream(ctx, stream, increments(n))
		return err
	}, 2, stop)
	var progress []projection.Progress
	require.NoError(t, p.ResetAndRebuild(ctx, func(pr projection.Progress) { progress = append(progress, pr) }))
	close(stop)
	assert.Positive(t, wait(), "appends went on during the rebuild")
	head, err = src.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	requireEqualReplay(t, s, tl)
	after, err := src.Status(ctx)
	require.NoError(t, err)
	// The slot is made again with a new snapshot, unless it has not
	// confirmed anything since it was made (then its snapshot still fits).
	t.Logf("consistent point %s -> %s, confirmed %s before the rebuild", before.ConsistentPoint, after.ConsistentPoint, before.ConfirmedFlushLSN)
	require.NotEmpty(t, progress)
	last := progress[len(progress)-1]
	assert.Positive(t, last.Total)
	assert.GreaterOrEqual(t, last.Done, last.Total, "the rebuild reached the end it started with")
}
