package telemetry

import (
	"context"
	"maps"

	"github.com/emmett-go/emmett/emmett"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Metadata fields that carry the trace context of an append, as W3C Trace
// Context (https://www.w3.org/TR/trace-context/) writes them in HTTP
// headers.
const (
	// TraceParentField holds the traceparent: version, trace id, id of
	// the span that appended the event, and flags
	// ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").
	TraceParentField = "traceparent"
	// TraceStateField holds the tracestate, when the trace has one.
	TraceStateField = "tracestate"
)

// InjectMetadata returns m with the trace context that ctx carries (the
// active span, or a remote parent) in TraceParentField and
// TraceStateField, replacing any there. When ctx carries no valid span
// context, m is returned as it is. m is not changed.
//
// Every store calls it, through backend.Prepare, for each event it
// appends, so that any append made in a traced context records where it
// came from, whoever made it: a command handler, the HTTP append endpoint,
// a reactor, or the application's own code.
func InjectMetadata(ctx context.Context, m emmett.Metadata) emmett.Metadata {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return m
	}
	fields := make(map[string]any, len(m.Fields)+2)
	maps.Copy(fields, m.Fields)
	delete(fields, TraceStateField)
	propagation.TraceContext{}.Inject(ctx, metadataCarrier(fields))
	m.Fields = fields
	return m
}

// SpanContextFromMetadata returns the span context InjectMetadata stored in
// m, marked remote; it is not valid when m has none (or a malformed one).
//
// Processors link each batch's span to these. A reactor that wants a span
// of its own per event in the trace of the append can use it as the
// parent:
//
//	ctx = trace.ContextWithRemoteSpanContext(ctx, telemetry.SpanContextFromMetadata(e.Metadata))
func SpanContextFromMetadata(m emmett.Metadata) trace.SpanContext {
	if _, ok := m.Fields[TraceParentField]; !ok {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), metadataCarrier(m.Fields))
	return trace.SpanContextFromContext(ctx)
}

// metadataCarrier is a propagation.TextMapCarrier over metadata fields.
type metadataCarrier map[string]any

func (c metadataCarrier) Get(key string) string {
	s, _ := c[key].(string)
	return s
}

func (c metadataCarrier) Set(key, value string) { c[key] = value }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
