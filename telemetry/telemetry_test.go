package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func spanContext(t *testing.T, state string) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	ts, err := trace.ParseTraceState(state)
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
}

func TestInjectMetadata(t *testing.T) {
	t.Run("WithoutATraceNothingChanges", func(t *testing.T) {
		m := emmett.Metadata{CorrelationID: "c", Fields: map[string]any{"tracestate": "stale"}}
		assert.Equal(t, m, telemetry.InjectMetadata(context.Background(), m))
	})
	t.Run("WritesW3CTraceContext", func(t *testing.T) {
		ctx := trace.ContextWithSpanContext(context.Background(), spanContext(t, "vendor=x"))
		m := emmett.Metadata{CorrelationID: "c", Fields: map[string]any{"user": 1}}
		got := telemetry.InjectMetadata(ctx, m)
		assert.Equal(t, map[string]any{"user": 1}, m.Fields, "the caller's metadata is not changed")
		assert.Equal(t, "c", got.CorrelationID)
		assert.Equal(t, map[string]any{
			"user":        1,
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"tracestate":  "vendor=x",
		}, got.Fields)
	})
	t.Run("ReplacesAnOlderTraceContext", func(t *testing.T) {
		ctx := trace.ContextWithSpanContext(context.Background(), spanContext(t, ""))
		m := emmett.Metadata{Fields: map[string]any{"traceparent": "00-11111111111111111111111111111111-2222222222222222-01", "tracestate": "old=1"}}
		got := telemetry.InjectMetadata(ctx, m)
		assert.Equal(t, map[string]any{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, got.Fields)
	})
}

func TestSpanContextFromMetadata(t *testing.T) {
	want := spanContext(t, "vendor=x")
	ctx := trace.ContextWithSpanContext(context.Background(), want)
	m := telemetry.InjectMetadata(ctx, emmett.Metadata{})

	// Through JSON, as a store keeps it.
	data, err := json.Marshal(m)
	require.NoError(t, err)
	var stored emmett.Metadata
	require.NoError(t, json.Unmarshal(data, &stored))

	got := telemetry.SpanContextFromMetadata(stored)
	assert.True(t, got.IsRemote())
	assert.True(t, got.Equal(trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: want.TraceID(), SpanID: want.SpanID(), TraceFlags: want.TraceFlags(), TraceState: want.TraceState(), Remote: true,
	})))

	assert.False(t, telemetry.SpanContextFromMetadata(emmett.Metadata{}).IsValid())
	assert.False(t, telemetry.SpanContextFromMetadata(emmett.Metadata{Fields: map[string]any{"traceparent": "garbage"}}).IsValid())
	assert.False(t, telemetry.SpanContextFromMetadata(emmett.Metadata{Fields: map[string]any{"traceparent": 42}}).IsValid())
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()

	logger.InfoContext(ctx, "in a span", "k", "v")
	logger.Info("without a context")
	logger.With("a", 1).InfoContext(ctx, "with attrs")

	var records []map[string]any
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var r map[string]any
		require.NoError(t, dec.Decode(&r))
		records = append(records, r)
	}
	require.Len(t, records, 3)
	sc := span.SpanContext()
	assert.Equal(t, sc.TraceID().String(), records[0]["trace_id"])
	assert.Equal(t, sc.SpanID().String(), records[0]["span_id"])
	assert.Equal(t, "v", records[0]["k"])
	assert.NotContains(t, records[1], "trace_id")
	assert.Equal(t, sc.TraceID().String(), records[2]["trace_id"])
	assert.Equal(t, float64(1), records[2]["a"])

	// Wrapping twice adds the ids once.
	buf.Reset()
	twice := slog.New(telemetry.NewLogHandler(logger.Handler()))
	twice.InfoContext(ctx, "once")
	assert.Equal(t, 1, bytes.Count(buf.Bytes(), []byte(`"trace_id"`)), buf.String())

	// Levels are the wrapped handler's.
	buf.Reset()
	quiet := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	quiet.InfoContext(ctx, "dropped")
	assert.Empty(t, buf.String())
	assert.False(t, quiet.Enabled(ctx, slog.LevelInfo))
}

func TestDisabled(t *testing.T) {
	cfg := telemetry.Disabled()
	_, span := cfg.TracerProvider.Tracer("x").Start(context.Background(), "y")
	assert.False(t, span.IsRecording())
	assert.NotNil(t, cfg.MeterProvider)
}
