package eventstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

func tracedContext(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	return trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
}

func TestPrepareContext(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	shared := emmett.Metadata{CorrelationID: "c", Fields: map[string]any{"tracestate": "stale=1"}}
	events := []eventstore.EventData{{Type: "A", Data: []byte(`{}`), Metadata: shared}, {Type: "B", Data: []byte(`{}`)}}

	t.Run("TracedAppendsCarryTheirTraceContext", func(t *testing.T) {
		prepared, err := eventstore.PrepareContext(tracedContext(t), "s-1", events, 0)
		require.NoError(t, err)
		assert.JSONEq(t, `{"correlationId":"c","traceparent":"`+traceparent+`"}`, string(prepared[0].MetadataJSON))
		assert.JSONEq(t, `{"traceparent":"`+traceparent+`"}`, string(prepared[1].MetadataJSON))
		assert.Equal(t, traceparent, prepared[1].Metadata.Fields["traceparent"])
		assert.Equal(t, map[string]any{"tracestate": "stale=1"}, shared.Fields, "the caller's metadata is not changed")
		assert.Nil(t, events[1].Metadata.Fields)
	})
	t.Run("UntracedAppendsDoNot", func(t *testing.T) {
		prepared, err := eventstore.PrepareContext(context.Background(), "s-1", events, 0)
		require.NoError(t, err)
		assert.JSONEq(t, `{"correlationId":"c","tracestate":"stale=1"}`, string(prepared[0].MetadataJSON))
		assert.Equal(t, `{}`, string(prepared[1].MetadataJSON))
	})
	t.Run("TheTraceContextCountsTowardTheLimit", func(t *testing.T) {
		big := []eventstore.EventData{{Type: "A", Data: []byte(`{"s":"` + strings.Repeat("x", 40) + `"}`)}}
		_, err := eventstore.PrepareContext(context.Background(), "s-1", big, 60)
		require.NoError(t, err)
		_, err = eventstore.PrepareContext(tracedContext(t), "s-1", big, 60)
		assert.ErrorIs(t, err, eventstore.ErrEventTooLarge)
	})
}
