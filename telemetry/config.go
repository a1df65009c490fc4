package telemetry

import (
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Config chooses where the instrumentation of a handler, a store or a
// processor sends its spans and measurements. Pass the same value to each
// (command.WithTelemetry, projection.WithTelemetry, memory.WithTelemetry,
// …).
//
// The zero Config uses the global providers of go.opentelemetry.io/otel.
// Components take their tracer and instruments when they are built, and
// those of the global providers forward to the SDK the application
// installs with otel.SetTracerProvider and otel.SetMeterProvider, even
// later: nothing is recorded until then, and everything is from then on.
type Config struct {
	// TracerProvider creates the spans; otel.GetTracerProvider() when nil.
	TracerProvider trace.TracerProvider
	// MeterProvider creates the instruments; otel.GetMeterProvider() when
	// nil.
	MeterProvider metric.MeterProvider
}

// Disabled returns a Config with no-op providers. Instrumentation given it
// does no work at all: no span is started, no clock is read, nothing is
// allocated. Use it where even the global no-op providers' cost (about
// half a microsecond per command) matters, or to keep a component out of
// the traces.
//
// The trace context of an append's context is still written into event
// metadata (see InjectMetadata): it belongs to the caller's trace, not to
// Emmett's instrumentation.
func Disabled() Config {
	return Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()}
}
