package projectiontest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Tally is the document of a Poisonable projection's total.
type Tally struct {
	// Events is the number of events it applied.
	Events int `json:"events"`
}

// TallyID is the id of the Tally document in a Poisonable projection's
// collection.
const TallyID = "tally"

// Poisonable returns a custom projection, named "poisonable", that keeps in
// collection a marker document per event it applies (by message id) and a
// Tally of them (TallyID): an event applied twice counts twice. It fails
// on Poisoned events while poisoned reports true.
func Poisonable(collection string, poisoned func() bool) projection.Projection {
	return projection.Custom("poisonable", Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[Event]) error {
			docs := tx.Documents()
			for _, e := range events {
				if _, ok := e.Event.(Poisoned); ok && poisoned() {
					return fmt.Errorf("%w at stream position %d", errPoisoned, e.StreamPosition)
				}
				if err := docs.Put(ctx, collection, e.MessageID, []byte(`{"seen":true}`)); err != nil {
					return err
				}
			}
			var tally Tally
			raw, found, err := docs.Get(ctx, collection, TallyID)
			if err != nil {
				return err
			}
			if found {
				if err := json.Unmarshal(raw, &tally); err != nil {
					return err
				}
			}
			tally.Events += len(events)
			raw, err = json.Marshal(tally)
			if err != nil {
				return err
			}
			return docs.Put(ctx, collection, TallyID, raw)
		},
		func(ctx context.Context, tx projection.Tx) error { return tx.Documents().DeleteAll(ctx, collection) })
}

// tally reads the Tally of a Poisonable projection: the events it applied.
func tally(t *testing.T, b Backend, collection string) int {
	t.Helper()
	got, _, err := projection.NewCollection[Tally](b.Documents(), collection).Get(background(t), TallyID)
	require.NoError(t, err)
	return got.Events
}

// meters is a meter provider whose counters the suite reads.
type meters struct {
	reader *sdkmetric.ManualReader
	cfg    telemetry.Config
}

func newMeters() *meters {
	r := sdkmetric.NewManualReader()
	return &meters{reader: r, cfg: telemetry.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))}}
}

// count returns the sum of the counter name's points with the attributes
// given (and any others).
// awaitCount waits until the counter name, with attrs, counts want.
// WaitFor may return on the stored checkpoint (the processor not running
// yet when it looked) before the processor's goroutine has counted the
// batch it committed: the count follows within moments.
func (m *meters) awaitCount(t *testing.T, want int64, name string, attrs ...attribute.KeyValue) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return m.count(t, name, attrs...) == want }, 10*time.Second, time.Millisecond) {
		t.Errorf("%s counts %d, want %d", name, m.count(t, name, attrs...), want)
	}
}

func (m *meters) count(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, m.reader.Collect(background(t), &rm))
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			sum, ok := mt.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is a counter", name)
		points:
			for _, dp := range sum.DataPoints {
				for _, kv := range attrs {
					if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
						continue points
					}
				}
				n += dp.Value
			}
		}
	}
	return n
}

// fixable is a switch a Poisonable projection or a reactor fails on
// Poisoned events by, until it is fixed.
type fixable struct{ fixed atomic.Bool }

func (f *fixable) poisoned() bool { return !f.fixed.Load() }
func (f *fixable) fix()           { f.fixed.Store(true) }

// appendPoisoned appends an Incremented event, a Poisoned one and another
// Incremented one in one append to stream, and returns them.
func appendPoisoned(t *testing.T, b Backend, stream string) (before, poisoned, after emmett.RecordedEvent) {
	t.Helper()
	evs := Append(t, b, stream, Incremented{By: 1}, Poisoned{}, Incremented{By: 2}).Events
	require.Len(t, evs, 3)
	return evs[0], evs[1], evs[2]
}

// requireParked requires the processor to have one parked event, poisoned,
// and returns it.
func requireParked(t *testing.T, p *projection.Processor, poisoned emmett.RecordedEvent, attempts int) projection.ParkedEvent {
	t.Helper()
	parked, err := p.Parked(background(t))
	require.NoError(t, err)
	require.Len(t, parked, 1, "the failing event is parked")
	got := parked[0]
	assert.Positive(t, got.ID)
	assert.Equal(t, p.ID(), got.Processor)
	assert.Equal(t, poisoned.MessageID, got.Event.MessageID, "the event keeps its message id")
	assert.Equal(t, poisoned.Type, got.Event.Type)
	assert.Equal(t, poisoned.StreamName, got.Event.StreamName)
	assert.Equal(t, poisoned.StreamPosition, got.Event.StreamPosition)
	assert.Equal(t, eventstore.PositionOf(poisoned), eventstore.PositionOf(got.Event))
	assert.JSONEq(t, string(poisoned.Data), string(got.Event.Data))
	assert.WithinDuration(t, poisoned.Created, got.Event.Created, time.Millisecond)
	assert.Contains(t, got.Error, errPoisoned.Error())
	assert.Equal(t, attempts, got.Attempts, "every try failed")
	assert.False(t, got.FirstFailure.IsZero())
	assert.False(t, got.LastFailure.Before(got.FirstFailure))
	assert.WithinDuration(t, time.Now(), got.LastFailure, time.Minute)
	assert.False(t, got.RetryRequested)
	return got
}

// attempts is how many times the failure policy cases try a batch.
const attempts = 2

// poisonCase is a case's backend, and a processor of a Poisonable
// projection (into "marks") trying a batch attempts times, with a failure
// policy.
type poisonCase struct {
	b Backend
	f *fixable
	p *projection.Processor
}

func newPoisonCase(t *testing.T, cfg Config, policy projection.FailurePolicy, opts ...projection.ProcessorOption) *poisonCase {
	c := &poisonCase{b: cfg.New(t), f: &fixable{}}
	c.p = c.processor(cfg, policy, opts...)
	return c
}

// processor is another instance of the case's processor.
func (c *poisonCase) processor(cfg Config, policy projection.FailurePolicy, opts ...projection.ProcessorOption) *projection.Processor {
	return projection.NewProjectionProcessor(c.b.Processors(), cfg.Source(c.b), Poisonable("marks", c.f.poisoned), append([]projection.ProcessorOption{
		projection.WithRetry(emmett.RetryPolicy{MaxAttempts: attempts, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}),
		projection.WithFailurePolicy(policy)}, opts...)...)
}

// poison appends a poisoned event between two others to stream, waits for
// the processor to get past them, and returns the poisoned one and the
// one after it.
func (c *poisonCase) poison(t *testing.T, stream string) (poisoned, after emmett.RecordedEvent) {
	t.Helper()
	_, poisoned, after = appendPoisoned(t, c.b, stream)
	waitFor(t, c.p, eventstore.PositionOf(after))
	return poisoned, after
}

func testFailurePolicies(t *testing.T, cfg Config) {
	t.Run("StopStopsAtTheEvent", func(t *testing.T) {
		t.Parallel()
		c := newPoisonCase(t, cfg, projection.StopOnFailure)
		stopsAtThePoisonedEvent(t, c.b, c.p)
		assert.Equal(t, 1, tally(t, c.b, "marks"), "nothing of the failed batch is applied")
		parked, err := c.p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, parked, "nothing is parked")
	})

	t.Run("SkipGoesOnAndCountsTheSkip", func(t *testing.T) {
		t.Parallel()
		m := newMeters()
		c := newPoisonCase(t, cfg, projection.SkipOnFailure, projection.WithTelemetry(m.cfg))
		start(t, c.p)
		poisoned, after := c.poison(t, "counter-1")
		waitFor(t, c.p, Append(t, c.b, "counter-2", Incremented{By: 3}).Position)
		assert.Equal(t, 3, tally(t, c.b, "marks"), "every event but the poisoned one is applied, once")
		_, found, err := c.b.Documents().Get(background(t), "marks", poisoned.MessageID)
		require.NoError(t, err)
		assert.False(t, found, "the poisoned event is not applied")
		_, found, err = c.b.Documents().Get(background(t), "marks", after.MessageID)
		require.NoError(t, err)
		assert.True(t, found, "the event after it in its batch is applied")
		m.awaitCount(t, 1, telemetry.MetricProcessorEventsSkipped, telemetry.ProcessorIDKey.String(c.p.ID()))
		assert.Zero(t, m.count(t, telemetry.MetricProcessorEventsParked))
		parked, err := c.p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, parked, "a skipped event is not parked")
	})

	t.Run("ReactorSkipRunsEachSideEffectOnce", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		var mu sync.Mutex
		calls := map[string]int{}
		p := projection.NewReactorProcessor(b.Processors(), cfg.Source(b), "notifier", nil, func(ctx context.Context, e emmett.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			calls[e.MessageID]++
			if e.Type == "Poisoned" {
				return errPoisoned
			}
			return nil
		}, projection.WithRetry(emmett.RetryPolicy{MaxAttempts: attempts, InitialDelay: time.Millisecond}),
			projection.WithFailurePolicy(projection.SkipOnFailure))
		start(t, p)
		before, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, 1, calls[before.MessageID], "the event before the failing one is not handled again")
		assert.Equal(t, attempts, calls[poisoned.MessageID], "the failing event is tried as the retry policy says")
		assert.Equal(t, 1, calls[after.MessageID])
	})

	t.Run("ParkGoesOnAndRecordsTheEvent", func(t *testing.T) {
		t.Parallel()
		m := newMeters()
		c := newPoisonCase(t, cfg, projection.ParkOnFailure, projection.WithTelemetry(m.cfg))
		start(t, c.p)
		poisoned, _ := c.poison(t, "counter-1")
		assert.Equal(t, 2, tally(t, c.b, "marks"), "the rest of the batch is applied")
		requireParked(t, c.p, poisoned, attempts)
		cp, _, err := c.b.Processors().ReadCheckpoint(background(t), c.p.ID())
		require.NoError(t, err)
		assert.True(t, eventstore.PositionOf(poisoned).Before(cp), "the checkpoint moved past the parked event")
		m.awaitCount(t, 1, telemetry.MetricProcessorEventsParked, telemetry.ProcessorIDKey.String(c.p.ID()))
		assert.Zero(t, m.count(t, telemetry.MetricProcessorEventsSkipped))

		// A second poisoned event, in a batch of its own: parked too.
		second, _ := c.poison(t, "counter-2")
		all, err := c.b.Processors().Parked(background(t), projection.ParkedFilter{})
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, []string{poisoned.MessageID, second.MessageID}, []string{all[0].Event.MessageID, all[1].Event.MessageID}, "in the order they were parked")
		assert.Less(t, all[0].ID, all[1].ID)
		assert.Equal(t, 4, tally(t, c.b, "marks"))
	})

	t.Run("RetryAfterTheFixAppliesTheEventOnce", func(t *testing.T) {
		t.Parallel()
		m := newMeters()
		c := newPoisonCase(t, cfg, projection.ParkOnFailure, projection.WithTelemetry(m.cfg))
		r := start(t, c.p)
		poisoned, _ := c.poison(t, "counter-1")
		parked := requireParked(t, c.p, poisoned, attempts)

		// Before the fix, the retry fails: the event stays parked, with
		// one attempt more.
		err := c.p.RetryParked(background(t), parked.ID)
		require.ErrorIs(t, err, projection.ErrRetryFailed)
		assert.Contains(t, err.Error(), errPoisoned.Error())
		again := requireParked(t, c.p, poisoned, attempts+1)
		assert.Equal(t, parked.ID, again.ID)
		assert.Equal(t, parked.FirstFailure, again.FirstFailure, "the first failure stays")
		assert.Equal(t, 2, tally(t, c.b, "marks"))

		c.f.fix()
		require.NoError(t, c.p.RetryParked(background(t), parked.ID))
		assert.Equal(t, 3, tally(t, c.b, "marks"), "the retry applies the event")
		_, found, err := c.b.Documents().Get(background(t), "marks", poisoned.MessageID)
		require.NoError(t, err)
		assert.True(t, found)
		requireNoneParked(t, c.p, "an applied event is no longer parked")
		assert.ErrorIs(t, c.p.RetryParked(background(t), parked.ID), projection.ErrParkedNotFound, "it cannot be retried twice")
		assert.Equal(t, int64(1), m.count(t, telemetry.MetricProcessorParkedRetries, telemetry.OutcomeKey.String(telemetry.OutcomeOK)))
		assert.Equal(t, int64(1), m.count(t, telemetry.MetricProcessorParkedRetries, telemetry.OutcomeKey.String(telemetry.OutcomeError)))

		// Another instance, from the stored checkpoint: nothing is applied
		// again.
		require.NoError(t, r.stop(t))
		p := c.processor(cfg, projection.ParkOnFailure)
		start(t, p)
		waitFor(t, p, Append(t, c.b, "counter-1", Incremented{By: 4}).Position)
		assert.Equal(t, 4, tally(t, c.b, "marks"), "each event applied exactly once")
	})

	t.Run("RetryAskedForElsewhere", func(t *testing.T) {
		t.Parallel()
		// emmett parked -retry asks the store; the instance that runs the
		// processor finds the request and carries it out.
		c := newPoisonCase(t, cfg, projection.ParkOnFailure, projection.WithWatchInterval(10*time.Millisecond))
		start(t, c.p)
		first, _ := c.poison(t, "counter-1")
		second, _ := c.poison(t, "counter-2")
		require.Equal(t, 4, tally(t, c.b, "marks"))
		c.f.fix()
		n, err := c.b.Processors().RequestRetry(background(t), "", 0)
		require.NoError(t, err)
		assert.Equal(t, int64(2), n, "a retry asked for each parked event")
		require.Eventually(t, func() bool {
			left, err := c.p.Parked(background(t))
			return err == nil && len(left) == 0
		}, waitLimit, 5*time.Millisecond, "the running instance retries them")
		assert.Equal(t, 6, tally(t, c.b, "marks"))
		for _, e := range []emmett.RecordedEvent{first, second} {
			_, found, err := c.b.Documents().Get(background(t), "marks", e.MessageID)
			require.NoError(t, err)
			assert.True(t, found)
		}
	})

	t.Run("RetryAllWhileNotRunning", func(t *testing.T) {
		t.Parallel()
		// A retry asked for while no instance runs the processor waits
		// for one; the next run carries it out before anything else.
		c := newPoisonCase(t, cfg, projection.ParkOnFailure, projection.WithWaitPollInterval(5*time.Millisecond))
		r := start(t, c.p)
		c.poison(t, "counter-1")
		require.NoError(t, r.stop(t))
		c.f.fix()
		ctx, cancel := context.WithTimeout(background(t), 50*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, c.p.RetryAllParked(ctx), context.DeadlineExceeded, "nobody runs the processor")
		asked, err := c.b.Processors().Parked(background(t), projection.ParkedFilter{Processor: c.p.ID(), RetryRequested: true})
		require.NoError(t, err)
		assert.Len(t, asked, 1, "the request stays")
		require.NoError(t, c.p.CatchUp(background(t)))
		requireNoneParked(t, c.p, "the run carried the retry out")
		assert.Equal(t, 3, tally(t, c.b, "marks"))
	})

	t.Run("DiscardRemovesTheEvent", func(t *testing.T) {
		t.Parallel()
		c := newPoisonCase(t, cfg, projection.ParkOnFailure)
		start(t, c.p)
		poisoned, _ := c.poison(t, "counter-1")
		parked := requireParked(t, c.p, poisoned, attempts)
		assert.ErrorIs(t, c.b.Processors().Discard(background(t), "another", parked.ID), projection.ErrParkedNotFound,
			"another processor's parked event is not discarded")
		require.NoError(t, c.p.DiscardParked(background(t), parked.ID))
		requireNoneParked(t, c.p, "the discarded event is gone")
		assert.ErrorIs(t, c.p.DiscardParked(background(t), parked.ID), projection.ErrParkedNotFound)
		assert.ErrorIs(t, c.p.RetryParked(background(t), parked.ID), projection.ErrParkedNotFound)
		c.f.fix()
		waitFor(t, c.p, Append(t, c.b, "counter-1", Incremented{By: 5}).Position)
		assert.Equal(t, 3, tally(t, c.b, "marks"), "the discarded event is never applied")
	})

	t.Run("ReactorParkKeepsTheMessageID", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		f := &fixable{}
		var mu sync.Mutex
		var handled []string
		p := projection.NewReactorProcessor(b.Processors(), cfg.Source(b), "notifier", []string{"Poisoned"}, func(ctx context.Context, e emmett.RecordedEvent) error {
			if f.poisoned() {
				return errPoisoned
			}
			mu.Lock()
			defer mu.Unlock()
			handled = append(handled, e.MessageID)
			return nil
		}, projection.WithRetry(emmett.RetryPolicy{MaxAttempts: attempts, InitialDelay: time.Millisecond}),
			projection.WithFailurePolicy(projection.ParkOnFailure))
		start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		parked := requireParked(t, p, poisoned, attempts)
		f.fix()
		require.NoError(t, p.RetryParked(background(t), parked.ID))
		mu.Lock()
		assert.Equal(t, []string{poisoned.MessageID}, handled, "the retry delivers the event with its message id")
		mu.Unlock()
		requireNoneParked(t, p, "the retried event is no longer parked")
	})

	t.Run("ParkedEventsQueries", func(t *testing.T) { t.Parallel(); testParkedQueries(t, cfg) })

	t.Run("RebuildDropsParkedEvents", func(t *testing.T) {
		t.Parallel()
		c := newPoisonCase(t, cfg, projection.ParkOnFailure)
		start(t, c.p)
		poisoned, _ := c.poison(t, "counter-1")
		requireParked(t, c.p, poisoned, attempts)
		c.f.fix()
		require.NoError(t, c.p.ResetAndRebuild(background(t), nil))
		assert.Equal(t, 3, tally(t, c.b, "marks"), "the replay applies every event once")
		requireNoneParked(t, c.p, "the replay delivered the parked event again: it is no longer parked")
	})
}

// requireNoneParked requires the processor to have no parked event.
func requireNoneParked(t *testing.T, p *projection.Processor, msg string) {
	t.Helper()
	left, err := p.Parked(background(t))
	require.NoError(t, err)
	assert.Empty(t, left, msg)
}

// testParkedQueries checks the store's parked events: the filters,
// RequestRetry, RetryFailed and Discard, over two processors.
func testParkedQueries(t *testing.T, cfg Config) {
	b := cfg.New(t)
	f := &fixable{}
	appendPoisoned(t, b, "counter-1")
	ids := map[string]int64{}
	for _, id := range []string{"first", "second"} {
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks_"+id, f.poisoned),
			projection.WithRetry(emmett.RetryPolicy{MaxAttempts: attempts, InitialDelay: time.Millisecond}),
			projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithProcessorID(id))
		require.NoError(t, p.CatchUp(background(t)))
		parked, err := p.Parked(background(t))
		require.NoError(t, err)
		require.Len(t, parked, 1)
		ids[id] = parked[0].ID
	}
	procs := b.Processors()
	ctx := background(t)
	all, err := procs.Parked(ctx, projection.ParkedFilter{})
	require.NoError(t, err)
	assert.Len(t, all, 2)
	limited, err := procs.Parked(ctx, projection.ParkedFilter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, limited, 1)
	assert.Equal(t, ids["first"], limited[0].ID)
	one, err := procs.Parked(ctx, projection.ParkedFilter{ID: ids["second"]})
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, "second", one[0].Processor)
	none, err := procs.Parked(ctx, projection.ParkedFilter{Processor: "first", ID: ids["second"]})
	require.NoError(t, err)
	assert.Empty(t, none)

	n, err := procs.RequestRetry(ctx, "first", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	n, err = procs.RequestRetry(ctx, "first", ids["second"])
	require.NoError(t, err)
	assert.Zero(t, n, "not the processor's")
	asked, err := procs.Parked(ctx, projection.ParkedFilter{RetryRequested: true})
	require.NoError(t, err)
	require.Len(t, asked, 1)
	assert.Equal(t, ids["first"], asked[0].ID)
	assert.True(t, asked[0].RetryRequested)

	require.NoError(t, procs.RetryFailed(ctx, "first", ids["first"], "still failing", time.Now()))
	failed, err := procs.Parked(ctx, projection.ParkedFilter{ID: ids["first"]})
	require.NoError(t, err)
	require.Len(t, failed, 1)
	assert.False(t, failed[0].RetryRequested, "a failed retry clears the request")
	assert.Equal(t, "still failing", failed[0].Error)
	assert.Equal(t, attempts+1, failed[0].Attempts)
	assert.ErrorIs(t, procs.RetryFailed(ctx, "first", ids["second"], "x", time.Now()), projection.ErrParkedNotFound)

	require.NoError(t, procs.Discard(ctx, "", ids["second"]))
	left, err := procs.Parked(ctx, projection.ParkedFilter{})
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, ids["first"], left[0].ID)
}
