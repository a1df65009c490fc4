package projectiontest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var emptyMetadata = emmett.Metadata{}

const waitLimit = 30 * time.Second

// running is a processor run in a goroutine.
type running struct {
	cancel   context.CancelFunc
	finished chan struct{}
	err      error // what Run returned, once finished is closed
}

func start(t *testing.T, p *projection.Processor) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(background(t))
	r := &running{cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(r.finished)
		r.err = p.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// wait waits for Run to return by itself and returns its error.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.finished:
		return r.err
	case <-time.After(waitLimit):
		t.Fatal("processor did not stop")
		return nil
	}
}

// stop cancels the run and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

func waitFor(t *testing.T, p *projection.Processor, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(background(t), waitLimit)
	defer cancel()
	require.NoError(t, p.WaitFor(ctx, pos), "waiting for %s", pos)
}

// appendMany appends n Incremented events over streams streams, a few per
// append, and returns the last position.
func appendMany(t *testing.T, b Backend, prefix string, n, streams int) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for i := 0; i < n; {
		k := min(1+i%3, n-i)
		evs := make([]Event, k)
		for j := range evs {
			evs[j] = Incremented{By: i + j + 1, Group: fmt.Sprintf("g%d", (i+j)%4)}
		}
		last = Append(t, b, fmt.Sprintf("%s-%d", prefix, i%streams), evs...).Position
		i += k
	}
	return last
}

func testProcessor(t *testing.T, cfg Config) {
	t.Run("CatchUpThenLive", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		counters := Counters("counters")
		appendMany(t, b, "counter", 50, 5)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters)
		start(t, p)
		waitFor(t, p, appendMany(t, b, "counter", 1, 5))
		RequireCountersMatchReplay(t, b, "counters")
		last := appendMany(t, b, "counter", 30, 7)
		waitFor(t, p, last)
		RequireCountersMatchReplay(t, b, "counters")
		cp, running := p.Checkpoint()
		assert.True(t, running)
		assert.GreaterOrEqual(t, cp.Compare(last), 0)
	})

	t.Run("StartFromEnd", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		counters := Counters("counters")
		before := appendMany(t, b, "old", 10, 2)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters, projection.StartFromEnd())
		start(t, p)
		require.Eventually(t, func() bool { cp, ok := p.Checkpoint(); return ok && cp.Compare(before) >= 0 }, waitLimit, 5*time.Millisecond)
		waitFor(t, p, Append(t, b, "new-1", Incremented{By: 7}).Position)
		docs := allDocuments[Counter](t, b.Documents(), "counters")
		assert.Equal(t, map[string]Counter{"new-1": {Total: 7, Count: 1, Active: true}}, docs, "events before the start are skipped")
	})

	t.Run("StartAfterPosition", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		first := Append(t, b, "counter-1", Incremented{By: 1}).Position
		last := Append(t, b, "counter-1", Incremented{By: 2}).Position
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"), projection.StartAfter(first))
		start(t, p)
		waitFor(t, p, last)
		got, _, err := Counters("counters").Collection(b.Documents()).Get(background(t), "counter-1")
		require.NoError(t, err)
		assert.Equal(t, 2, got.Total)
	})

	t.Run("ResumesFromItsCheckpoint", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		counters := Counters("counters")
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters, projection.StartFromEnd())
		r := start(t, p)
		require.Eventually(t, func() bool { _, ok := p.Checkpoint(); return ok }, waitLimit, time.Millisecond)
		waitFor(t, p, appendMany(t, b, "counter", 20, 3))
		require.NoError(t, r.stop(t))
		cp, found, err := b.Processors().ReadCheckpoint(background(t), "counters")
		require.NoError(t, err)
		require.True(t, found, "the checkpoint is stored")
		last := appendMany(t, b, "counter", 20, 3)
		assert.True(t, cp.Before(last))

		// StartFromEnd only applies without a checkpoint: the second run
		// resumes where the first stopped.
		p = projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters, projection.StartFromEnd())
		start(t, p)
		waitFor(t, p, last)
		RequireCountersMatchReplay(t, b, "counters")
	})

	t.Run("Reactor", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		var mu sync.Mutex
		var seen []emmett.RecordedEvent
		p := projection.NewReactorProcessor(b.Processors(), cfg.Source(b), "tagger", []string{"Tagged"}, func(ctx context.Context, e emmett.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, e)
			return nil
		})
		start(t, p)
		Append(t, b, "counter-1", Incremented{By: 1}, Tagged{Tag: "a"})
		last := Append(t, b, "counter-2", Tagged{Tag: "b"}, Incremented{By: 1}).Position
		waitFor(t, p, last)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, seen, 2, "only the types asked for")
		assert.JSONEq(t, `{"tag":"a"}`, string(seen[0].Data))
		assert.JSONEq(t, `{"tag":"b"}`, string(seen[1].Data))
		assert.NotEqual(t, seen[0].MessageID, seen[1].MessageID)
		assert.NotEmpty(t, seen[0].MessageID, "reactors get the message id for idempotency")
	})

	t.Run("TransientErrorIsRetried", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Failing("marks", 1), projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}))
		start(t, p)
		last := Append(t, b, "counter-1", Incremented{By: 1}, Poisoned{}, Incremented{By: 1}).Position
		waitFor(t, p, last)
		n, err := projection.NewCollection[map[string]any](b.Documents(), "marks").Count(background(t))
		require.NoError(t, err)
		assert.Equal(t, int64(3), n, "every event applied once, the failed attempt rolled back")
	})

	failFast := projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	t.Run("PersistentErrorStopsAtTheEvent", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		stopsAtThePoisonedEvent(t, b, projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Failing("marks", 0), failFast))
		n, err := projection.NewCollection[map[string]any](b.Documents(), "marks").Count(background(t))
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "nothing of the failed batch is applied: no silent skip")
	})
	t.Run("ReactorPersistentErrorStopsAtTheEvent", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		stopsAtThePoisonedEvent(t, b, projection.NewReactorProcessor(b.Processors(), cfg.Source(b), "notifier", nil, func(ctx context.Context, e emmett.RecordedEvent) error {
			if e.Type == "Poisoned" {
				return errPoisoned
			}
			return nil
		}, failFast))
	})

	t.Run("WokenByAnAppend", func(t *testing.T) {
		t.Parallel()
		if cfg.WokenSource == nil {
			t.Skip("the backend gives no source that only the store's wake moves (Config.WokenSource)")
		}
		b := cfg.New(t)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.WokenSource(b), Counters("counters"))
		start(t, p)
		first := Append(t, b, "counter-1", Incremented{By: 1}).Position
		waitFor(t, p, first)
		// The source polls once an hour: only the wake of the append can
		// bring the next event before the test's deadline.
		ctx, cancel := context.WithTimeout(background(t), waitLimit)
		defer cancel()
		require.NoError(t, p.WaitFor(ctx, Append(t, b, "counter-1", Incremented{By: 2}).Position))
		RequireCountersMatchReplay(t, b, "counters")
	})

	t.Run("WaitForEndsWithTheContext", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"), projection.WithWaitPollInterval(5*time.Millisecond))
		pos := Append(t, b, "counter-1", Incremented{By: 1}).Position
		// Nothing runs the processor: the position is never reached.
		ctx, cancel := context.WithTimeout(background(t), 50*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, p.WaitFor(ctx, pos), context.DeadlineExceeded)
		cctx, ccancel := context.WithCancel(background(t))
		ccancel()
		assert.ErrorIs(t, p.WaitFor(cctx, pos), context.Canceled)
	})

	t.Run("WaitForOutlivesTheInstance", func(t *testing.T) {
		t.Parallel()
		// A wait on an instance that stops before it gets there is
		// answered by the instance that takes over.
		b := cfg.New(t)
		st := &stalling{Projection: Counters("counters"), stallAt: 2, stalled: make(chan struct{})}
		first := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), st, projection.WithWaitPollInterval(5*time.Millisecond))
		r := start(t, first)
		waitFor(t, first, Append(t, b, "counter-1", Incremented{By: 1}).Position)
		pos := Append(t, b, "counter-1", Incremented{By: 2}).Position
		<-st.stalled
		waited := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(background(t), waitLimit)
			defer cancel()
			waited <- first.WaitFor(ctx, pos)
		}()
		time.Sleep(50 * time.Millisecond) // the wait begins while the instance runs
		require.NoError(t, r.stop(t))
		start(t, projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters")))
		require.NoError(t, <-waited)
		RequireCountersMatchReplay(t, b, "counters")
	})

	t.Run("FailurePolicy", func(t *testing.T) { t.Parallel(); testFailurePolicies(t, cfg) })
	t.Run("BoundedRun", func(t *testing.T) { t.Parallel(); testBoundedRuns(t, cfg) })
	t.Run("OneInstanceAtATime", func(t *testing.T) { t.Parallel(); testOneInstance(t, cfg) })
	t.Run("CancelMidBatchThenRestart", func(t *testing.T) { t.Parallel(); testCancelMidBatch(t, cfg) })
	t.Run("RebuildWhileAppending", func(t *testing.T) { t.Parallel(); testRebuild(t, cfg) })
	t.Run("RebuildWhenNotRunning", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		counters := Counters("counters")
		appendMany(t, b, "counter", 40, 4)
		require.NoError(t, counters.Collection(b.Documents()).Put(background(t), "stale", Counter{Total: -1}))
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters)
		var last projection.Progress
		require.NoError(t, p.ResetAndRebuild(background(t), func(pr projection.Progress) { last = pr }))
		RequireCountersMatchReplay(t, b, "counters")
		assert.Equal(t, last.Total, last.Done, "progress reaches the total")
		_, running := p.Checkpoint()
		assert.False(t, running, "the rebuild released the processor")
	})
	t.Run("WaitForAcrossInstances", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		active := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"))
		start(t, active)
		other := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"), projection.WithWaitPollInterval(10*time.Millisecond))
		waitFor(t, other, appendMany(t, b, "counter", 10, 2))
		RequireCountersMatchReplay(t, b, "counters")
	})
}

// stopsAtThePoisonedEvent runs p, a processor failing on Poisoned events,
// past a first event, then appends a Poisoned one between two others: p
// must stop with a *ProcessorError naming the event, its checkpoint past
// the first event and before the poisoned one.
func stopsAtThePoisonedEvent(t *testing.T, b Backend, p *projection.Processor) {
	t.Helper()
	before := Append(t, b, "counter-1", Incremented{By: 1}).Position
	r := start(t, p)
	waitFor(t, p, before)
	poisoned := Append(t, b, "counter-1", Incremented{By: 2}, Poisoned{}, Incremented{By: 3}).Events[1]
	err := r.wait(t)
	var perr *projection.ProcessorError
	require.ErrorAs(t, err, &perr)
	assert.ErrorIs(t, err, errPoisoned)
	assert.Equal(t, p.ID(), perr.Processor)
	assert.Equal(t, eventstore.PositionOf(poisoned), perr.Position(), "the error names the failing event")
	assert.Contains(t, err.Error(), poisoned.StreamName)
	cp, _, err := b.Processors().ReadCheckpoint(background(t), p.ID())
	require.NoError(t, err)
	assert.True(t, cp.Before(eventstore.PositionOf(poisoned)), "the checkpoint does not pass the failing event")
	assert.False(t, cp.Before(before), "the checkpoint keeps what was done before")
}

// countingProjection counts the batches it handles.
type countingProjection struct {
	projection.Projection
	calls atomic.Int32
}

func (c *countingProjection) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	c.calls.Add(1)
	return c.Projection.Handle(ctx, tx, events)
}

// appendUntilStopped appends, in a goroutine, the event next(i) gives to
// its stream, for i = 0, 1, ..., until stop is called; stop waits for the
// goroutine and returns the number of appends, and appended returns the
// number so far.
func appendUntilStopped(t *testing.T, b Backend, next func(i int) (string, Event)) (stop, appended func() int64) {
	done := make(chan struct{})
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				stream, ev := next(int(n.Load()))
				Append(t, b, stream, ev)
				n.Add(1)
				// Let the others run: on js/wasm, Go runs one goroutine
				// at a time and preempts none, and an append to the
				// memory store never blocks.
				runtime.Gosched()
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return n.Load()
	}, n.Load
}

func testOneInstance(t *testing.T, cfg Config) {
	b := cfg.New(t)
	// One processor (one id) in two instances, each with a projection
	// that counts the batches it handles.
	inFirst, inSecond := &countingProjection{Projection: Counters("counters")}, &countingProjection{Projection: Counters("counters")}
	first := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), inFirst)
	second := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), inSecond)
	r1 := start(t, first)
	waitFor(t, first, appendMany(t, b, "counter", 5, 2))
	start(t, second)

	stop, _ := appendUntilStopped(t, b, func(i int) (string, Event) {
		return fmt.Sprintf("counter-%d", i%3), Incremented{By: 1}
	})
	before := inFirst.calls.Load()
	require.Eventually(t, func() bool { return inFirst.calls.Load() >= before+5 }, waitLimit, time.Millisecond,
		"the first instance goes on with the appends")
	_, secondRunning := second.Checkpoint()
	assert.False(t, secondRunning, "the second instance waits for the lock")
	assert.Zero(t, inSecond.calls.Load(), "the second instance handles nothing while the first runs")
	require.NoError(t, r1.stop(t))
	handledByFirst := inFirst.calls.Load()
	require.Eventually(t, func() bool { _, ok := second.Checkpoint(); return ok }, waitLimit, 5*time.Millisecond, "the second instance takes over")
	time.Sleep(50 * time.Millisecond)
	stop()
	head, err := cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	waitFor(t, second, head)
	RequireCountersMatchReplay(t, b, "counters")
	assert.Equal(t, handledByFirst, inFirst.calls.Load(), "the first instance handles nothing once stopped")
	assert.Positive(t, inSecond.calls.Load(), "the second instance took over the work")
}

// stalling is a projection whose Handle blocks on its nth call until the
// context ends, like a process that dies in the middle of a batch.
type stalling struct {
	projection.Projection
	calls   atomic.Int32
	stallAt int32
	stalled chan struct{}
}

func (s *stalling) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	if s.calls.Add(1) == s.stallAt {
		// Write part of the batch, then hang.
		if err := s.Projection.Handle(ctx, tx, events[:len(events)/2]); err != nil {
			return err
		}
		close(s.stalled)
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Projection.Handle(ctx, tx, events)
}

func testCancelMidBatch(t *testing.T, cfg Config) {
	b := cfg.New(t)
	appendMany(t, b, "counter", cfg.events(), 10)
	st := &stalling{Projection: Counters("counters"), stallAt: 2, stalled: make(chan struct{})}
	p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), st)
	r := start(t, p)
	select {
	case <-st.stalled:
	case <-time.After(waitLimit):
		t.Fatal("the projection never stalled")
	}
	require.NoError(t, r.stop(t), "a cancelled processor stops cleanly")
	cp, _, err := b.Processors().ReadCheckpoint(background(t), "counters")
	require.NoError(t, err)

	p = projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"))
	start(t, p)
	head, err := cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	assert.True(t, cp.Before(head), "the first run stopped part way")
	waitFor(t, p, head)
	RequireCountersMatchReplay(t, b, "counters")
}

func testRebuild(t *testing.T, cfg Config) {
	b := cfg.New(t)
	counters := Counters("counters")
	appendMany(t, b, "counter", cfg.events(), 10)
	p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters)
	start(t, p)
	head, err := cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	waitFor(t, p, head)
	// Spoil the read model, as a bug would.
	require.NoError(t, counters.Collection(b.Documents()).Put(background(t), "counter-1", Counter{Total: -1}))

	stop, appended := appendUntilStopped(t, b, func(i int) (string, Event) {
		return fmt.Sprintf("counter-%d", i%12), Incremented{By: i, Group: "live"}
	})
	var progress []projection.Progress
	var pmu sync.Mutex
	var appendedDuring atomic.Bool
	err = p.ResetAndRebuild(background(t), func(pr projection.Progress) {
		pmu.Lock()
		progress = append(progress, pr)
		first := len(progress) == 1
		pmu.Unlock()
		if first {
			// The rebuild has begun (its first report): an append that
			// completes now goes on during it. Waiting for one here,
			// rather than counting those that happen to run before the
			// rebuild ends, keeps a short rebuild on a loaded machine
			// from passing without one.
			n := appended()
			deadline := time.Now().Add(waitLimit)
			for appended() == n && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			appendedDuring.Store(appended() > n)
		}
	})
	require.NoError(t, err)
	stop()
	assert.True(t, appendedDuring.Load(), "appends went on during the rebuild")

	head, err = cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	waitFor(t, p, head)
	RequireCountersMatchReplay(t, b, "counters")

	pmu.Lock()
	defer pmu.Unlock()
	require.NotEmpty(t, progress)
	lastProgress := progress[len(progress)-1]
	if lastProgress.Total >= 0 {
		assert.GreaterOrEqual(t, lastProgress.Total, int64(cfg.events()))
		assert.GreaterOrEqual(t, lastProgress.Done, lastProgress.Total, "the rebuild reached the end it started with")
	}
	for i := 1; i < len(progress); i++ {
		assert.GreaterOrEqual(t, progress[i].Done, progress[i-1].Done, "progress only grows")
	}
}
