// Package instrument is the mechanics of Emmett's OpenTelemetry
// instrumentation, shared by the command handlers, the stores and the
// processors: tracers and instruments resolved once from a
// telemetry.Config, spans that cost nothing when no SDK is installed, and
// attribute sets built once per component, not per call.
//
// Names (spans, metrics, attributes) are in the public telemetry package.
package instrument

import (
	"context"
	"log/slog"
	"time"

	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// tracer returns the tracer of scope, or nil when cfg's provider is a
// no-op one.
func tracer(cfg telemetry.Config, scope string) trace.Tracer {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if _, off := tp.(tracenoop.TracerProvider); off {
		return nil
	}
	return tp.Tracer(scope)
}

// meter returns the meter of scope, or nil when cfg's provider is a no-op
// one.
func meter(cfg telemetry.Config, scope string) metric.Meter {
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if _, off := mp.(metricnoop.MeterProvider); off {
		return nil
	}
	return mp.Meter(scope)
}

// durationBounds are the bucket boundaries of duration histograms, in
// seconds: from 100 µs (an in-memory append) to 10 s.
func durationBounds() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// histogram creates a duration histogram; a failure is reported to otel's
// error handler and gives a no-op histogram.
func histogram(m metric.Meter, name, desc string) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(durationBounds()...))
	if err != nil {
		otel.Handle(err)
	}
	if h == nil {
		return metricnoop.Float64Histogram{}
	}
	return h
}

// counter creates an event counter.
func counter(m metric.Meter, name, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit("{event}"), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
	}
	if c == nil {
		return metricnoop.Int64Counter{}
	}
	return c
}

// recordOpts returns the record options of one attribute set, built once.
func recordOpts(kv ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// noSpan returns the span of a context without one: a no-op span, without
// allocating.
func noSpan() trace.Span { return trace.SpanFromContext(context.Background()) }

// EndSpan records err, if any, on span and ends it.
func EndSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// since returns the seconds since start.
func since(start time.Time) float64 { return time.Since(start).Seconds() }

// Logger returns the logger a component logs through: l, or when l is nil
// slog's default logger passing on warnings and errors only; either way
// with the trace and span ids of the record's context added (see
// telemetry.NewLogHandler).
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(telemetry.NewLogHandler(warnOnly{slog.Default().Handler()}))
	}
	return WithTraceIDs(l)
}

// WithTraceIDs returns l with the trace and span ids of each record's
// context added (once: a logger that adds them already is not wrapped
// again).
func WithTraceIDs(l *slog.Logger) *slog.Logger {
	return slog.New(telemetry.NewLogHandler(l.Handler()))
}

// warnOnly passes on records at warning level and above.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}
func (h warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(a)} }
func (h warnOnly) WithGroup(n string) slog.Handler      { return warnOnly{h.Handler.WithGroup(n)} }
