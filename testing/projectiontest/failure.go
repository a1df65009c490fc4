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

func testFailurePolicies(t *testing.T, cfg Config) {
	const attempts = 2
	failFast := projection.WithRetry(emmett.RetryPolicy{MaxAttempts: attempts, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})

	t.Run("StopStopsAtTheEvent", func(t *testing.T) {
		b := cfg.New(t)
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.StopOnFailure))
		stopsAtThePoisonedEvent(t, b, p)
		assert.Equal(t, 1, tally(t, b, "marks"), "nothing of the failed batch is applied")
		parked, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, parked, "nothing is parked")
	})

	t.Run("SkipGoesOnAndCountsTheSkip", func(t *testing.T) {
		b := cfg.New(t)
		m := newMeters()
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.SkipOnFailure), projection.WithTelemetry(m.cfg))
		start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		last := Append(t, b, "counter-2", Incremented{By: 3}).Position
		waitFor(t, p, last)
		assert.Equal(t, 3, tally(t, b, "marks"), "every event but the poisoned one is applied, once")
		_, found, err := b.Documents().Get(background(t), "marks", poisoned.MessageID)
		require.NoError(t, err)
		assert.False(t, found, "the poisoned event is not applied")
		_, found, err = b.Documents().Get(background(t), "marks", after.MessageID)
		require.NoError(t, err)
		assert.True(t, found, "the event after it in its batch is applied")
		assert.Equal(t, int64(1), m.count(t, telemetry.MetricProcessorEventsSkipped, telemetry.ProcessorIDKey.String(p.ID())), "the skip is counted")
		assert.Zero(t, m.count(t, telemetry.MetricProcessorEventsParked))
		parked, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, parked, "a skipped event is not parked")
	})

	t.Run("ReactorSkipRunsEachSideEffectOnce", func(t *testing.T) {
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
		}, failFast, projection.WithFailurePolicy(projection.SkipOnFailure))
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
		b := cfg.New(t)
		m := newMeters()
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithTelemetry(m.cfg))
		start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		assert.Equal(t, 2, tally(t, b, "marks"), "the rest of the batch is applied")
		requireParked(t, p, poisoned, attempts)
		cp, _, err := b.Processors().ReadCheckpoint(background(t), p.ID())
		require.NoError(t, err)
		assert.True(t, eventstore.PositionOf(poisoned).Before(cp), "the checkpoint moved past the parked event")
		assert.Equal(t, int64(1), m.count(t, telemetry.MetricProcessorEventsParked, telemetry.ProcessorIDKey.String(p.ID())), "the park is counted")
		assert.Zero(t, m.count(t, telemetry.MetricProcessorEventsSkipped))

		// A second poisoned event, in a batch of its own: parked too.
		_, second, after := appendPoisoned(t, b, "counter-2")
		waitFor(t, p, eventstore.PositionOf(after))
		all, err := b.Processors().Parked(background(t), projection.ParkedFilter{})
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, []string{poisoned.MessageID, second.MessageID}, []string{all[0].Event.MessageID, all[1].Event.MessageID}, "in the order they were parked")
		assert.Less(t, all[0].ID, all[1].ID)
		assert.Equal(t, 4, tally(t, b, "marks"))
	})

	t.Run("RetryAfterTheFixAppliesTheEventOnce", func(t *testing.T) {
		b := cfg.New(t)
		m := newMeters()
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithTelemetry(m.cfg))
		r := start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		parked := requireParked(t, p, poisoned, attempts)

		// Before the fix, the retry fails: the event stays parked, with
		// one attempt more.
		err := p.RetryParked(background(t), parked.ID)
		require.ErrorIs(t, err, projection.ErrRetryFailed)
		assert.Contains(t, err.Error(), errPoisoned.Error())
		again := requireParked(t, p, poisoned, attempts+1)
		assert.Equal(t, parked.ID, again.ID)
		assert.Equal(t, parked.FirstFailure, again.FirstFailure, "the first failure stays")
		assert.Equal(t, 2, tally(t, b, "marks"))

		f.fix()
		require.NoError(t, p.RetryParked(background(t), parked.ID))
		assert.Equal(t, 3, tally(t, b, "marks"), "the retry applies the event")
		_, found, err := b.Documents().Get(background(t), "marks", poisoned.MessageID)
		require.NoError(t, err)
		assert.True(t, found)
		left, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, left, "an applied event is no longer parked")
		assert.ErrorIs(t, p.RetryParked(background(t), parked.ID), projection.ErrParkedNotFound, "it cannot be retried twice")
		assert.Equal(t, int64(1), m.count(t, telemetry.MetricProcessorParkedRetries, telemetry.OutcomeKey.String(telemetry.OutcomeOK)))
		assert.Equal(t, int64(1), m.count(t, telemetry.MetricProcessorParkedRetries, telemetry.OutcomeKey.String(telemetry.OutcomeError)))

		// Another instance, from the stored checkpoint: nothing is applied
		// again.
		require.NoError(t, r.stop(t))
		p = projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure))
		start(t, p)
		waitFor(t, p, Append(t, b, "counter-1", Incremented{By: 4}).Position)
		assert.Equal(t, 4, tally(t, b, "marks"), "each event applied exactly once")
	})

	t.Run("RetryAskedForElsewhere", func(t *testing.T) {
		// emmett parked -retry asks the store; the instance that runs the
		// processor finds the request and carries it out.
		b := cfg.New(t)
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithParkedPollInterval(10*time.Millisecond))
		start(t, p)
		_, first, _ := appendPoisoned(t, b, "counter-1")
		_, second, after := appendPoisoned(t, b, "counter-2")
		waitFor(t, p, eventstore.PositionOf(after))
		require.Equal(t, 4, tally(t, b, "marks"))
		f.fix()
		n, err := b.Processors().RequestRetry(background(t), "", 0)
		require.NoError(t, err)
		assert.Equal(t, int64(2), n, "a retry asked for each parked event")
		require.Eventually(t, func() bool {
			left, err := p.Parked(background(t))
			return err == nil && len(left) == 0
		}, waitLimit, 5*time.Millisecond, "the running instance retries them")
		assert.Equal(t, 6, tally(t, b, "marks"))
		for _, e := range []emmett.RecordedEvent{first, second} {
			_, found, err := b.Documents().Get(background(t), "marks", e.MessageID)
			require.NoError(t, err)
			assert.True(t, found)
		}
	})

	t.Run("RetryAllWhileNotRunning", func(t *testing.T) {
		// A retry asked for while no instance runs the processor waits
		// for one; the next run carries it out before anything else.
		b := cfg.New(t)
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithWaitPollInterval(5*time.Millisecond))
		r := start(t, p)
		_, _, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		require.NoError(t, r.stop(t))
		f.fix()
		ctx, cancel := context.WithTimeout(background(t), 50*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, p.RetryAllParked(ctx), context.DeadlineExceeded, "nobody runs the processor")
		asked, err := b.Processors().Parked(background(t), projection.ParkedFilter{Processor: p.ID(), RetryRequested: true})
		require.NoError(t, err)
		assert.Len(t, asked, 1, "the request stays")
		require.NoError(t, p.CatchUp(background(t)))
		left, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, left)
		assert.Equal(t, 3, tally(t, b, "marks"))
	})

	t.Run("DiscardRemovesTheEvent", func(t *testing.T) {
		b := cfg.New(t)
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure))
		start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		parked := requireParked(t, p, poisoned, attempts)
		assert.ErrorIs(t, b.Processors().Discard(background(t), "another", parked.ID), projection.ErrParkedNotFound,
			"another processor's parked event is not discarded")
		require.NoError(t, p.DiscardParked(background(t), parked.ID))
		left, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, left, "the discarded event is gone")
		assert.ErrorIs(t, p.DiscardParked(background(t), parked.ID), projection.ErrParkedNotFound)
		assert.ErrorIs(t, p.RetryParked(background(t), parked.ID), projection.ErrParkedNotFound)
		f.fix()
		waitFor(t, p, Append(t, b, "counter-1", Incremented{By: 5}).Position)
		assert.Equal(t, 3, tally(t, b, "marks"), "the discarded event is never applied")
	})

	t.Run("ReactorParkKeepsTheMessageID", func(t *testing.T) {
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
		}, failFast, projection.WithFailurePolicy(projection.ParkOnFailure))
		start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		parked := requireParked(t, p, poisoned, attempts)
		f.fix()
		require.NoError(t, p.RetryParked(background(t), parked.ID))
		mu.Lock()
		assert.Equal(t, []string{poisoned.MessageID}, handled, "the retry delivers the event with its message id")
		mu.Unlock()
		left, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, left)
	})

	t.Run("ParkedEventsQueries", func(t *testing.T) {
		b := cfg.New(t)
		f := &fixable{}
		ids := map[string]int64{}
		for _, id := range []string{"first", "second"} {
			p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks_"+id, f.poisoned), failFast,
				projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithProcessorID(id))
			r := start(t, p)
			if id == "first" {
				appendPoisoned(t, b, "counter-1")
			}
			head, err := cfg.Source(b).Head(background(t))
			require.NoError(t, err)
			waitFor(t, p, head)
			require.NoError(t, r.stop(t))
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
	})

	t.Run("RebuildDropsParkedEvents", func(t *testing.T) {
		b := cfg.New(t)
		f := &fixable{}
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Poisonable("marks", f.poisoned), failFast,
			projection.WithFailurePolicy(projection.ParkOnFailure))
		start(t, p)
		_, poisoned, after := appendPoisoned(t, b, "counter-1")
		waitFor(t, p, eventstore.PositionOf(after))
		requireParked(t, p, poisoned, attempts)
		f.fix()
		require.NoError(t, p.Rebuild(background(t), nil))
		assert.Equal(t, 3, tally(t, b, "marks"), "the replay applies every event once")
		left, err := p.Parked(background(t))
		require.NoError(t, err)
		assert.Empty(t, left, "the replay delivered the parked event again: it is no longer parked")
	})
}
