package instrument

import (
	"context"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Processor instruments a processor (projector or reactor). A nil
// *Processor instruments nothing.
type Processor struct {
	tracer    trace.Tracer // nil: no spans
	startOpts []trace.SpanStartOption
	id        attribute.KeyValue

	meter      metric.Meter // nil: no metrics
	duration   metric.Float64Histogram
	processed  metric.Int64Counter
	skipped    metric.Int64Counter
	parked     metric.Int64Counter
	retries    metric.Int64Counter
	lagEvents  metric.Int64ObservableGauge
	lagTime    metric.Float64ObservableGauge
	batchOpts  [2][]metric.RecordOption // ok, error
	addOpts    []metric.AddOption
	retryOpts  [2][]metric.AddOption // ok, error
	observeOpt []metric.ObserveOption
}

// NewProcessor resolves cfg for the processor id.
func NewProcessor(cfg telemetry.Config, scope, id string) *Processor {
	p := &Processor{tracer: tracer(cfg, scope), id: telemetry.ProcessorIDKey.String(id)}
	// A batch is the root of a trace of its own (linked to the appends'):
	// it is not part of whatever the processor's Run was started in.
	p.startOpts = []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(p.id)}
	m := meter(cfg, scope)
	if m == nil {
		return p
	}
	p.meter = m
	p.duration = histogram(m, telemetry.MetricProcessorBatchDuration, "Duration of a processor's batches, retries included")
	p.processed = counter(m, telemetry.MetricProcessorEventsProcessed, "Events taken through a processor's batches")
	p.skipped = counter(m, telemetry.MetricProcessorEventsSkipped, "Events a processor skipped, its handler failing on them")
	p.parked = counter(m, telemetry.MetricProcessorEventsParked, "Events a processor parked, its handler failing on them")
	p.retries = counter(m, telemetry.MetricProcessorParkedRetries, "Retries of parked events, by outcome")
	var err error
	if p.lagEvents, err = m.Int64ObservableGauge(telemetry.MetricProcessorLagEvents, metric.WithUnit("{event}"),
		metric.WithDescription("Events a processor is behind the head of its source")); err != nil {
		otel.Handle(err)
	}
	if p.lagTime, err = m.Float64ObservableGauge(telemetry.MetricProcessorLagTime, metric.WithUnit("s"),
		metric.WithDescription("Age of the last event a processor has processed, while it is behind; 0 once caught up")); err != nil {
		otel.Handle(err)
	}
	p.batchOpts[0] = recordOpts(p.id, telemetry.OutcomeKey.String(telemetry.OutcomeOK))
	p.batchOpts[1] = recordOpts(p.id, telemetry.OutcomeKey.String(telemetry.OutcomeError))
	set := attribute.NewSet(p.id)
	p.addOpts = []metric.AddOption{metric.WithAttributeSet(set)}
	p.retryOpts[0] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(p.id, telemetry.OutcomeKey.String(telemetry.OutcomeOK)))}
	p.retryOpts[1] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(p.id, telemetry.OutcomeKey.String(telemetry.OutcomeError)))}
	p.observeOpt = []metric.ObserveOption{metric.WithAttributeSet(set)}
	return p
}

// Batch is one batch of a processor in flight.
type Batch struct {
	p        *Processor
	ctx      context.Context
	span     trace.Span
	start    time.Time
	events   int
	attempts int
}

// StartBatch starts a batch of events that moves the checkpoint from from
// to to. Its span is a new root, linked to the span that appended each of
// the events (see telemetry.SpanContextFromMetadata).
func (p *Processor) StartBatch(ctx context.Context, from, to eventstore.Position, events []emmett.RecordedEvent) (context.Context, Batch) {
	b := Batch{p: p, span: noSpan(), events: len(events)}
	if p == nil {
		return ctx, b
	}
	if p.tracer != nil {
		ctx, b.span = p.tracer.Start(ctx, telemetry.SpanProcessorBatch, p.startOpts...)
		if b.span.IsRecording() {
			b.span.SetAttributes(
				telemetry.EventCountKey.Int(len(events)),
				telemetry.CheckpointFromKey.String(from.String()),
				telemetry.CheckpointToKey.String(to.String()))
			linkAppends(b.span, events)
		}
	}
	if p.meter != nil && p.duration.Enabled(ctx) {
		b.start = time.Now()
	}
	b.ctx = ctx
	return ctx, b
}

// linkAppends links span to the span that appended each event, once per
// append (the events of one append are next to each other in the log).
func linkAppends(span trace.Span, events []emmett.RecordedEvent) {
	var last trace.SpanContext
	for _, e := range events {
		if _, ok := e.Metadata.Fields[telemetry.TraceParentField]; !ok {
			continue
		}
		sc := telemetry.SpanContextFromMetadata(e.Metadata)
		if !sc.IsValid() || sc.Equal(last) {
			continue
		}
		last = sc
		span.AddLink(trace.Link{SpanContext: sc})
	}
}

// Retry records that an attempt of the batch failed with err and that it
// is tried again.
func (b *Batch) Retry(err error) {
	b.attempts++
	if b.span.IsRecording() {
		b.span.RecordError(err, trace.WithAttributes(telemetry.BatchAttemptsKey.Int(b.attempts)))
	}
}

// SetAside records that the failure policy set e aside, failing with err:
// parked, or else skipped. The processor calls it once the batch has
// committed.
func (b *Batch) SetAside(e emmett.RecordedEvent, parked bool, err error) {
	if b.p != nil && b.p.meter != nil {
		if parked {
			b.p.parked.Add(b.ctx, 1, b.p.addOpts...)
		} else {
			b.p.skipped.Add(b.ctx, 1, b.p.addOpts...)
		}
	}
	if b.span.IsRecording() {
		name := telemetry.EventProcessorEventSkipped
		if parked {
			name = telemetry.EventProcessorEventParked
		}
		b.span.AddEvent(name, trace.WithAttributes(
			telemetry.EventPositionKey.String(eventstore.PositionOf(e).String()),
			telemetry.EventTypeKey.String(e.Type),
			telemetry.StreamNameKey.String(e.StreamName),
			attribute.String("exception.message", err.Error())))
	}
}

// End ends the batch, with the error that stopped the processor, if any.
func (b *Batch) End(err error) {
	if b.p == nil {
		return
	}
	if b.span.IsRecording() {
		b.span.SetAttributes(telemetry.BatchAttemptsKey.Int(b.attempts + 1))
		if err != nil {
			b.span.RecordError(err)
			b.span.SetStatus(codes.Error, err.Error())
		}
	}
	b.span.End()
	if b.p.meter == nil {
		return
	}
	failed := 0
	if err != nil {
		failed = 1
	} else if b.events > 0 {
		b.p.processed.Add(b.ctx, int64(b.events), b.p.addOpts...)
	}
	if !b.start.IsZero() {
		b.p.duration.Record(b.ctx, since(b.start), b.p.batchOpts[failed]...)
	}
}

// Retry is the retry of a parked event in flight.
type Retry struct {
	p    *Processor
	ctx  context.Context
	span trace.Span
}

// StartRetry starts the retry of the parked event id, e: its span is a new
// root, linked to the span that appended e.
func (p *Processor) StartRetry(ctx context.Context, id int64, e emmett.RecordedEvent) (context.Context, Retry) {
	r := Retry{p: p, span: noSpan()}
	if p == nil {
		return ctx, r
	}
	if p.tracer != nil {
		ctx, r.span = p.tracer.Start(ctx, telemetry.SpanProcessorRetry, p.startOpts...)
		if r.span.IsRecording() {
			r.span.SetAttributes(
				telemetry.ParkedIDKey.Int64(id),
				telemetry.EventPositionKey.String(eventstore.PositionOf(e).String()),
				telemetry.EventTypeKey.String(e.Type),
				telemetry.StreamNameKey.String(e.StreamName))
			linkAppends(r.span, []emmett.RecordedEvent{e})
		}
	}
	r.ctx = ctx
	return ctx, r
}

// Abort ends a retry that came to no outcome (its context ended, the
// store failed), with that error; it is not counted.
func (r *Retry) Abort(err error) { EndSpan(r.span, err) }

// End ends the retry with its outcome: nil when the handler applied the
// event, the handler's error when it failed again.
func (r *Retry) End(err error) {
	if r.p == nil {
		return
	}
	EndSpan(r.span, err)
	if r.p.meter == nil {
		return
	}
	failed := 0
	if err != nil {
		failed = 1
	}
	r.p.retries.Add(r.ctx, 1, r.p.retryOpts[failed]...)
}

// Lag is what a processor reports of its lag: the events it is behind,
// and the age of the last event it processed (0 once caught up; negative
// when unknown).
type Lag struct {
	Events int64
	Time   time.Duration
}

// ObserveLag has lag called each time the application's metric reader
// collects, to report the processor's lag, until the returned function is
// called. lag may do I/O (ask the source for its head) with the context it
// is given.
func (p *Processor) ObserveLag(lag func(context.Context) (Lag, error)) (stop func()) {
	if p == nil || p.meter == nil || p.lagEvents == nil || p.lagTime == nil {
		return func() {}
	}
	reg, err := p.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		l, err := lag(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(p.lagEvents, l.Events, p.observeOpt...)
		if l.Time >= 0 {
			o.ObserveFloat64(p.lagTime, l.Time.Seconds(), p.observeOpt...)
		}
		return nil
	}, p.lagEvents, p.lagTime)
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	return func() {
		if err := reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}
