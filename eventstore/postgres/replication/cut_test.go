package replication_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logs is a logger whose records a test reads.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// showOnFailure prints the records when the test fails.
func (l *logs) showOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("logs:\n%s", l.buf.String())
		}
	})
}

const tableCatchUps = "catching up from the table"

// writers append until stop is closed: plain appends of 1 to 4 events,
// and holders, whose transactions append, then stay open for a while
// before they commit, so that transactions commit out of the order of
// their ids and of their events' global positions, across the
// processor's stops, its switch from the table to the stream and the
// bases of its cuts. Some holders write to the streams of the plain
// writers (they wait for each other on the stream), some to streams of
// their own.
func writers(t *testing.T, s *postgres.Store, stop <-chan struct{}) func() int64 {
	t.Helper()
	ctx := context.Background()
	plain := appendConcurrently(t, func(stream string, n int) error {
		_, err := s.AppendToStream(ctx, stream, increments(n))
		return err
	}, 3, stop)
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				stream := fmt.Sprintf("held-%d-%d", w, i%5)
				if w == 0 {
					stream = fmt.Sprintf("counter-%d", i%20)
				}
				err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
					// An id first, the events later: ids are not in the
					// order of the events either.
					if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
						return err
					}
					time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
					if _, err := s.AppendToStreamTx(ctx, tx, stream, increments(1+rng.IntN(3))); err != nil {
						return err
					}
					time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
					return nil
				})
				if err != nil {
					t.Errorf("held append: %v", err)
					return
				}
				n.Add(1)
			}
		})
	}
	return func() int64 { wg.Wait(); return plain() + n.Load() }
}

// requireEqualFold is requireEqualReplay where transactions take their ids
// out of the order of their events' stream positions: the last position of
// each stream is its largest, not that of the last event in the order of
// ReadAll.
func requireEqualFold(t *testing.T, s *postgres.Store, tl *tally) {
	t.Helper()
	want := map[string]counter{}
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		require.NoError(t, err)
		var d struct{ By int64 }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		c := want[e.StreamName]
		c.Count++
		c.Last = max(c.Last, e.StreamPosition)
		c.Total += d.By
		want[e.StreamName] = c
	}
	for stream, c := range want {
		require.Equal(t, c.Count, c.Last, "stream %s has no gap", stream)
	}
	require.Equal(t, want, tl.read(t, s.Pool()), "the read model equals a fold of the log")
}

// A processor stopped and started again many times while writers append,
// with transactions committing out of order: it catches up from the table
// (its cut written down at each stop), and every event is applied once, in
// order in its stream (the tally stops on a gap or a duplicate), the read
// model equal to a replay of the log.
func TestCatchUpFromTableAfterStops(t *testing.T) {
	t.Parallel()
	cycles := 12
	if testing.Short() {
		cycles = 5
	}
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	var l logs
	l.showOnFailure(t)
	var src *replication.Source
	mk := func() *projection.Processor {
		src = newSource(t, s, "counters", replication.WithBatchSize(20), replication.WithTableCatchUp(1),
			replication.WithCutInterval(20*time.Millisecond), replication.WithLogger(l.logger()))
		return projection.NewProjectionProcessor(s.Processors(), src, tl)
	}
	// Caught up first: a new processor's history is read in the order of
	// transaction ids, which the holders' early ids do not keep per stream.
	appendTo(t, s, "counter-0", 2)
	p := mk()
	r := start(t, p)
	head, err := src.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	require.NoError(t, ignoreCanceled(r.stop(t)))
	stop := make(chan struct{})
	wait := writers(t, s, stop)
	rng := rand.New(rand.NewPCG(1, 2))
	for range cycles {
		p = mk()
		r = start(t, p)
		waitRunning(t, p)
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		require.NoError(t, ignoreCanceled(r.stop(t)))
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
	}
	close(stop)
	appends := wait()
	p = mk()
	r = start(t, p)
	head, err = src.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	requireEqualFold(t, s, tl)
	select {
	case <-r.done:
		t.Fatalf("the processor stopped: %v", r.err)
	default:
	}
	n := l.count(tableCatchUps)
	t.Logf("%d appends, %d stops, %d catch-ups from the table", appends, cycles, n)
	// A restart whose stop fell in the middle of a catch-up from the table
	// goes on with it (no new one), and one whose last batch committed as
	// its context ended resumes past its cut (from the WAL): how many
	// restarts start a catch-up from the table depends on the timing.
	assert.Positive(t, n, "restarts catch up from the table")
}

// waitRunning waits until the processor holds its lock and has applied a
// batch.
func waitRunning(t *testing.T, p *projection.Processor) {
	t.Helper()
	from, _ := p.Checkpoint()
	require.Eventually(t, func() bool {
		cp, running := p.Checkpoint()
		return running && cp != from
	}, waitLimit, time.Millisecond, "the processor runs")
}

func ignoreCanceled(err error) error {
	if err != nil && strings.Contains(err.Error(), "context canceled") {
		return nil
	}
	return err
}

// A processor stopped in the middle of a catch-up from the table resumes
// it (the new slot's record keeps the cut); one whose source stopped after
// dropping the old slot and before making the new one goes on; one whose
// cut was lost (a crash) catches up from the WAL, establishes a cut of its
// own while transactions commit out of order, and catches up from the
// table after its next stop.
func TestCatchUpFromTableInterrupted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	var l logs
	l.showOnFailure(t)
	src := func() *replication.Source {
		return newSource(t, s, "counters", replication.WithBatchSize(10), replication.WithTableCatchUp(1),
			replication.WithCutInterval(20*time.Millisecond), replication.WithLogger(l.logger()))
	}
	mk := func(src *replication.Source) *projection.Processor {
		return projection.NewProjectionProcessor(s.Processors(), src, tl)
	}
	backlog := func() eventstore.Position {
		stop := make(chan struct{})
		wait := writers(t, s, stop)
		time.Sleep(700 * time.Millisecond)
		close(stop)
		wait()
		var last eventstore.Position
		for i := range 30 {
			last = appendTo(t, s, fmt.Sprintf("counter-%d", i%20), 2).Position
		}
		return last
	}
	cycle := func() *projection.Processor {
		sr := src()
		p := mk(sr)
		r := start(t, p)
		head, err := sr.Head(ctx)
		require.NoError(t, err)
		waitFor(t, p, head)
		// One more from the stream: the checkpoint moves past the slot's
		// consistent point (whose cut the slot's record gives).
		waitFor(t, p, appendTo(t, s, "counter-3", 1).Position)
		require.NoError(t, ignoreCanceled(r.stop(t)))
		requireEqualFold(t, s, tl)
		return p
	}
	appendTo(t, s, "counter-0", 3)
	cycle()

	// Stopped in the middle of the table's history.
	backlog()
	tl.delay = 20 * time.Millisecond
	p := mk(src())
	r := start(t, p)
	require.Eventually(t, func() bool {
		cp, _ := p.Checkpoint()
		return cp.LSN == replication.HistoryLSN
	}, waitLimit, time.Millisecond, "the processor reads the history")
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, ignoreCanceled(r.stop(t)))
	cp, _ := p.Checkpoint()
	require.Equal(t, uint64(replication.HistoryLSN), cp.LSN, "stopped in the history: %s", cp)
	tl.delay = 0
	before := l.count(tableCatchUps)
	cycle()
	assert.Equal(t, before, l.count(tableCatchUps), "the history goes on in the same slot")

	// Stopped after the old slot was dropped, before the new one was made.
	backlog()
	_, err := s.Pool().Exec(ctx, `UPDATE emt_replication_cuts SET replacing = true`)
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, src().Slot())
	require.NoError(t, err)
	before = l.count(tableCatchUps)
	cycle()
	assert.Equal(t, before+1, l.count(tableCatchUps))

	// The same, and Head (of another instance, say) made a slot without a
	// snapshot before the processor started again.
	backlog()
	_, err = s.Pool().Exec(ctx, `UPDATE emt_replication_cuts SET replacing = true`)
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, src().Slot())
	require.NoError(t, err)
	_, err = src().Head(ctx)
	require.NoError(t, err)
	before = l.count(tableCatchUps)
	cycle()
	assert.Equal(t, before+1, l.count(tableCatchUps), "the slot made meanwhile is replaced")

	// The cut lost: from the WAL, then a cut of its own.
	backlog()
	_, err = s.Pool().Exec(ctx, `DELETE FROM emt_replication_cuts`)
	require.NoError(t, err)
	before = l.count(tableCatchUps)
	stop := make(chan struct{})
	wait := writers(t, s, stop)
	sr := src()
	p = mk(sr)
	r = start(t, p)
	time.Sleep(1500 * time.Millisecond) // writers on, while the cut is established
	close(stop)
	wait()
	head, err := sr.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	waitFor(t, p, appendTo(t, s, "counter-3", 1).Position)
	require.NoError(t, ignoreCanceled(r.stop(t)))
	requireEqualFold(t, s, tl)
	assert.Equal(t, before, l.count(tableCatchUps), "no cut: from the WAL")
	var cutLSN string
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT lsn::text FROM emt_replication_cuts`).Scan(&cutLSN))
	cp, _ = p.Checkpoint()
	lsn, err := pglogrepl.ParseLSN(cutLSN)
	require.NoError(t, err)
	require.Equal(t, cp.LSN, uint64(lsn), "the cut of the checkpoint is written down")
	backlog()
	cycle()
	assert.Equal(t, before+1, l.count(tableCatchUps), "with its cut: from the table")

	// Dropped by DropSlot: the checkpoint cannot be resumed.
	backlog()
	require.NoError(t, src().DropSlot(ctx))
	p = mk(src())
	r = start(t, p)
	select {
	case <-r.done:
		var se *replication.SlotError
		require.ErrorAs(t, r.err, &se)
	case <-time.After(waitLimit):
		t.Fatal("the processor did not stop")
	}
}
