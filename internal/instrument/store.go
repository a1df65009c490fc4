package instrument

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Store instruments an event store backend: each backend's
// AppendToStream, ReadStream and ReadAll hand their work to Append,
// ReadStream and ReadAll, with the backend and its uninstrumented method
// (a method expression, so that nothing is allocated when there is
// nothing to record):
//
//	func (s *Store) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
//		return instrument.Append(ctx, s.tel, s, stream, events, opts, (*Store).appendToStream)
//	}
//
// A nil *Store instruments nothing.
type Store struct {
	tracer    trace.Tracer // nil: no spans
	startOpts []trace.SpanStartOption
	backend   attribute.KeyValue
	metrics   bool

	appendDuration metric.Float64Histogram
	appended       metric.Int64Counter
	readDuration   metric.Float64Histogram
	appendOpts     [outcomes][]metric.RecordOption
	appendedOpts   []metric.AddOption
	readOpts       [2][2][]metric.RecordOption // [read_stream, read_all][ok, error]
}

const (
	opReadStream = iota
	opReadAll
)

// NewStore resolves cfg for the store backend named backend ("memory",
// "sqlite", "postgres"); kind is the kind of its spans (SpanKindClient for
// a database server, SpanKindInternal for an embedded one).
func NewStore(cfg telemetry.Config, scope, backend string, kind trace.SpanKind) *Store {
	b := telemetry.StoreBackendKey.String(backend)
	s := &Store{
		tracer:    tracer(cfg, scope),
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(kind)},
		backend:   b,
	}
	m := meter(cfg, scope)
	if m == nil {
		return s
	}
	s.metrics = true
	s.appendDuration = histogram(m, telemetry.MetricStoreAppendDuration, "Duration of appends to the event store")
	s.appended = counter(m, telemetry.MetricStoreEventsAppended, "Events appended to the event store")
	s.readDuration = histogram(m, telemetry.MetricStoreReadDuration, "Duration of reads of the event store, from the first event to the last")
	for o := range outcomes {
		s.appendOpts[o] = recordOpts(b, telemetry.OutcomeKey.String(outcomeNames[o]))
	}
	s.appendedOpts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(b))}
	for op, name := range [2]string{"read_stream", "read_all"} {
		for i, o := range [2]outcome{outcomeOK, outcomeError} {
			s.readOpts[op][i] = recordOpts(b, telemetry.StoreOperationKey.String(name), telemetry.OutcomeKey.String(outcomeNames[o]))
		}
	}
	return s
}

func (s *Store) off() bool { return s == nil || (s.tracer == nil && !s.metrics) }

// Append runs backend's append in an emmett.store.append span, and
// measures it. The append gets the span's context: the trace context that
// backend.Prepare writes into the events' metadata is this span's.
func Append[B any](ctx context.Context, s *Store, backend B, stream string, events []eventstore.EventData, opts []eventstore.AppendOption,
	appendFn func(B, context.Context, string, []eventstore.EventData, ...eventstore.AppendOption) (eventstore.AppendResult, error)) (eventstore.AppendResult, error) {
	if s.off() {
		return appendFn(backend, ctx, stream, events, opts...)
	}
	span := noSpan()
	if s.tracer != nil {
		ctx, span = s.tracer.Start(ctx, telemetry.SpanStoreAppend, s.startOpts...)
	}
	var start time.Time
	timed := s.metrics && s.appendDuration.Enabled(ctx)
	if timed {
		start = time.Now()
	}
	res, err := appendFn(backend, ctx, stream, events, opts...)
	o := outcomeOK
	if err != nil {
		o = outcomeError
		if errors.Is(err, eventstore.ErrVersionConflict) {
			o = outcomeConflict
		}
	}
	if timed {
		s.appendDuration.Record(ctx, since(start), s.appendOpts[o]...)
	}
	if err == nil && s.metrics {
		s.appended.Add(ctx, int64(len(res.Events)), s.appendedOpts...)
	}
	if span.IsRecording() {
		attrs := []attribute.KeyValue{
			s.backend,
			telemetry.StreamNameKey.String(stream),
			telemetry.EventCountKey.Int(len(events)),
			telemetry.StreamExpectedVersionKey.String(expectedVersion(opts).String()),
			telemetry.OutcomeKey.String(outcomeNames[o]),
			{},
		}
		if err == nil {
			attrs[len(attrs)-1] = telemetry.StreamVersionAfterKey.Int64(res.NextExpectedVersion)
		} else {
			attrs = attrs[:len(attrs)-1]
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.SetAttributes(attrs...)
	}
	span.End()
	return res, err
}

// ReadStream runs backend's stream read in an emmett.store.read_stream
// span; see reading.
func ReadStream[B any](ctx context.Context, s *Store, backend B, stream string, opts []eventstore.ReadOption,
	read func(B, context.Context, string, ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error]) iter.Seq2[emmett.RecordedEvent, error] {
	traced, timed := s.reading(ctx)
	if !traced && !timed {
		return read(backend, ctx, stream, opts...)
	}
	return func(yield func(emmett.RecordedEvent, error) bool) {
		ctx, span, start := s.startRead(ctx, telemetry.SpanStoreReadStream, traced, timed)
		if span.IsRecording() {
			span.SetAttributes(s.backend, telemetry.StreamNameKey.String(stream))
		}
		var n int
		var err error
		defer func() { s.endRead(ctx, span, start, opReadStream, n, err) }()
		n, err = relay(read(backend, ctx, stream, opts...), yield)
	}
}

// ReadAll runs backend's read of the global log in an
// emmett.store.read_all span; see reading.
func ReadAll[B any](ctx context.Context, s *Store, backend B, after eventstore.Position, opts []eventstore.ReadOption,
	read func(B, context.Context, eventstore.Position, ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error]) iter.Seq2[emmett.RecordedEvent, error] {
	traced, timed := s.reading(ctx)
	if !traced && !timed {
		return read(backend, ctx, after, opts...)
	}
	return func(yield func(emmett.RecordedEvent, error) bool) {
		ctx, span, start := s.startRead(ctx, telemetry.SpanStoreReadAll, traced, timed)
		if span.IsRecording() {
			span.SetAttributes(s.backend)
		}
		var n int
		var err error
		defer func() { s.endRead(ctx, span, start, opReadAll, n, err) }()
		n, err = relay(read(backend, ctx, after, opts...), yield)
	}
}

// reading tells whether a read in ctx is traced and timed. Reads are
// traced only inside a trace (under the span of a command, a request, a
// batch): a read from a context without one, such as a processor polling
// its source, would make a root span per poll. Its time is measured all the
// same. A read neither traced nor timed is the backend's own, untouched.
func (s *Store) reading(ctx context.Context) (traced, timed bool) {
	if s == nil {
		return false, false
	}
	traced = s.tracer != nil && trace.SpanContextFromContext(ctx).IsValid()
	timed = s.metrics && s.readDuration.Enabled(ctx)
	return traced, timed
}

// startRead starts the span of a read that begins now.
func (s *Store) startRead(ctx context.Context, name string, traced, timed bool) (context.Context, trace.Span, time.Time) {
	span := noSpan()
	if traced {
		ctx, span = s.tracer.Start(ctx, name, s.startOpts...)
	}
	var start time.Time
	if timed {
		start = time.Now()
	}
	return ctx, span, start
}

func (s *Store) endRead(ctx context.Context, span trace.Span, start time.Time, op int, n int, err error) {
	failed := 0
	if err != nil {
		failed = 1
	}
	if !start.IsZero() {
		s.readDuration.Record(ctx, since(start), s.readOpts[op][failed]...)
	}
	if span.IsRecording() {
		span.SetAttributes(telemetry.EventCountKey.Int(n))
	}
	EndSpan(span, err)
}

// relay passes the events of seq on to yield until either ends, and
// returns how many events it passed and the error that ended seq.
func relay(seq iter.Seq2[emmett.RecordedEvent, error], yield func(emmett.RecordedEvent, error) bool) (n int, err error) {
	for e, rerr := range seq {
		if rerr != nil {
			err = rerr
		} else {
			n++
		}
		if !yield(e, rerr) {
			break
		}
	}
	return n, err
}

// expectedVersion is the expected version opts give (any when none).
func expectedVersion(opts []eventstore.AppendOption) eventstore.ExpectedVersion {
	var o eventstore.AppendOptions
	for _, opt := range opts {
		if opt != nil {
			opt.ApplyToAppend(&o)
		}
	}
	return o.ExpectedVersion
}
