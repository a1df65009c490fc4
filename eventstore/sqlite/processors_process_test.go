package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/childproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The process tests run async processors in child processes (this test
// binary again, told by environment variables), on a backlog in a database
// file, with a slow projection that prints its progress; the parent kills
// them with SIGKILL in the middle of a batch. The child prints:
//
//	waiting                    before it asks for the processor's lock
//	locked                     once it holds it
//	batch <n> <first> <last>   when its n-th batch starts (global positions)
//	mid <n> <first> <last>     when half of the batch is written, uncommitted
//	done <checkpoint>          when it has processed the whole backlog
const (
	procChildEnv = "EMMETT_SQLITE_PROC_CHILD" // the database path
	procTTLEnv   = "EMMETT_SQLITE_PROC_TTL"   // the lease TTL
	procDelayEnv = "EMMETT_SQLITE_PROC_DELAY" // the pause in every batch
	procStallEnv = "EMMETT_SQLITE_PROC_STALL" // the batch in which it hangs, 0 for none
	procBatch    = 100                        // events per batch
	procID       = "counters"                 // the processor (the projection's name)
)

func TestProcessorProcesses(t *testing.T) {
	if path := os.Getenv(procChildEnv); path != "" {
		processorChild(path)
		return
	}
	if testing.Short() {
		t.Skip("the process tests run child processes; skipped with -short")
	}
	t.Run("KilledMidBatchThenRestarted", testKilledMidBatch)
	t.Run("OneProcessAtATime", testOneProcessAtATime)
}

// testKilledMidBatch kills a child in the middle of a batch, then runs the
// processor in this process: it waits for the dead child's lease to
// expire, resumes from the last committed batch, and ends with the
// documents of a fresh replay.
func testKilledMidBatch(t *testing.T) {
	const ttl = time.Second
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "killed.db")
	s, err := sqlite.Open(ctx, path, sqlite.WithLeaseTTL(ttl), sqlite.WithSynchronous(sqlite.SyncNormal))
	require.NoError(t, err)
	defer s.Close()
	head := appendBacklog(t, s, 3000, 25)

	c := startChild(t, path, ttl, 10*time.Millisecond, 4)
	c.Expect(t, "locked")
	mid := c.Expect(t, "mid 4 ")
	c.Kill(t)
	inFlight := eventstore.Position{GlobalPosition: atoi(t, mid[3])}

	cp, found, err := s.Processors().ReadCheckpoint(ctx, procID)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, eventstore.Position{GlobalPosition: 3 * procBatch}, cp, "three batches committed, the fourth was cut")
	assert.True(t, cp.Before(inFlight))
	row, _ := readProcessorRow(t, rawDBOn(t, path), procID)
	assert.Equal(t, "running", row.status, "the dead child's lease is still in the row")

	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(procBatch)), projectiontest.Counters("counters"))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(runCtx) }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	waitOrStop(t, wctx, p, head, done)
	t.Logf("restarted in-process, caught up after %v (the lease TTL is %v)", time.Since(start).Round(time.Millisecond), ttl)
	cancel()
	require.NoError(t, <-done)

	projectiontest.RequireCountersMatchReplay(t, s, "counters")
}

// testOneProcessAtATime runs the same processor in two child processes:
// the second waits while the first processes, and takes over once the
// first is killed and its lease expired.
func testOneProcessAtATime(t *testing.T) {
	const ttl = 800 * time.Millisecond
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pair.db")
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
	require.NoError(t, err)
	defer s.Close()
	appendBacklog(t, s, 3000, 25)

	first := startChild(t, path, ttl, 20*time.Millisecond, 6)
	first.Expect(t, "locked")
	second := startChild(t, path, ttl, 0, 0)
	second.Expect(t, "waiting")
	first.Expect(t, "mid 6 ") // five batches committed while the second waited
	assert.Empty(t, second.Seen("locked"), "the second process does not run while the first does")
	assert.Empty(t, second.Seen("batch"))

	first.Kill(t)
	killed := time.Now()
	second.Expect(t, "locked")
	t.Logf("the second process took over %v after the kill (the lease TTL is %v)", time.Since(killed).Round(time.Millisecond), ttl)
	batch := second.Expect(t, "batch 1 ")
	assert.Equal(t, int64(5*procBatch+1), atoi(t, batch[2]), "it resumes after the first one's last committed batch")
	second.Expect(t, "done")
	second.Wait(t)

	projectiontest.RequireCountersMatchReplay(t, s, "counters")
}

// appendBacklog appends n events (increments, tags and a few removals) over
// the given number of streams, a few per append, and returns the last
// position.
func appendBacklog(t *testing.T, s eventstore.Store, n, streams int) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for i := 0; i < n; {
		k := min(1+i%4, n-i)
		evs := make([]projectiontest.Event, k)
		for j := range evs {
			switch x := i + j; {
			case x%97 == 96:
				evs[j] = projectiontest.Removed{}
			case x%5 == 0:
				evs[j] = projectiontest.Tagged{Tag: fmt.Sprint("t", x%7)}
			default:
				evs[j] = projectiontest.Incremented{By: x%11 + 1, Group: fmt.Sprint("g", x%3)}
			}
		}
		last = projectiontest.Append(t, s, fmt.Sprintf("counter-%d", i%streams), evs...).Position
		i += k
	}
	return last
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

func startChild(t *testing.T, path string, ttl, delay time.Duration, stallAt int) *childproc.Child {
	t.Helper()
	return childproc.Start(t, []string{procChildEnv + "=" + path, procTTLEnv + "=" + ttl.String(),
		procDelayEnv + "=" + delay.String(), procStallEnv + "=" + strconv.Itoa(stallAt)},
		"-test.run=^TestProcessorProcesses$", "-test.count=1")
}

// announcing is the store as the child's processor sees it: it says when
// it waits for the lock and when it has it.
type announcing struct{ projection.CheckpointStore }

func (a announcing) Lock(ctx context.Context, id string) (projection.Lock, error) {
	fmt.Println("waiting")
	l, err := a.CheckpointStore.Lock(ctx, id)
	if err == nil {
		fmt.Println("locked")
	}
	return l, err
}

// slowProjection applies each batch in two halves with a pause between
// them, printing its progress; in its stallAt-th batch it hangs after the
// first half, as a process killed in the middle of a batch would.
type slowProjection struct {
	projection.Projection
	delay   time.Duration
	stallAt int32
	calls   atomic.Int32
}

func (p *slowProjection) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	n := p.calls.Add(1)
	first, last := events[0].GlobalPosition, events[len(events)-1].GlobalPosition
	fmt.Printf("batch %d %d %d\n", n, first, last)
	half := len(events) / 2
	if err := p.Projection.Handle(ctx, tx, events[:half]); err != nil {
		return err
	}
	fmt.Printf("mid %d %d %d\n", n, first, last)
	if n == p.stallAt {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
		}
	}
	time.Sleep(p.delay)
	return p.Projection.Handle(ctx, tx, events[half:])
}

// processorChild runs the counters projector until it has processed the
// whole log, then exits.
func processorChild(path string) {
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, what+":", err)
		os.Exit(2)
	}
	ttl, err := time.ParseDuration(os.Getenv(procTTLEnv))
	if err != nil {
		fail("ttl", err)
	}
	delay, err := time.ParseDuration(os.Getenv(procDelayEnv))
	if err != nil {
		fail("delay", err)
	}
	stallAt, err := strconv.Atoi(os.Getenv(procStallEnv))
	if err != nil {
		fail("stall", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, path, sqlite.WithLeaseTTL(ttl), sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		fail("open", err)
	}
	proj := &slowProjection{Projection: projectiontest.Counters("counters"), delay: delay, stallAt: int32(stallAt)}
	p := projection.NewProjectionProcessor(announcing{s.Processors()}, s.Source(projection.PollBatchSize(procBatch)), proj)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- p.Run(runCtx) }()
	head, err := s.Head(ctx)
	if err != nil {
		fail("head", err)
	}
	for {
		cp, running := p.Checkpoint()
		if running && cp.Compare(head) >= 0 {
			fmt.Println("done", cp)
			break
		}
		select {
		case err := <-ran:
			fail("run", err)
		case <-ctx.Done():
			fail("timeout", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	if err := <-ran; err != nil {
		fail("run", err)
	}
	if err := s.Close(); err != nil {
		fail("close", err)
	}
	os.Exit(0)
}
