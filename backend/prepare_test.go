package backend_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/backend"
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

func TestPrepareTraceContext(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	shared := emmett.Metadata{CorrelationID: "c", Fields: map[string]any{"tracestate": "stale=1"}}
	events := []eventstore.EventData{{Type: "A", Data: []byte(`{}`), Metadata: shared}, {Type: "B", Data: []byte(`{}`)}}

	t.Run("TracedAppendsCarryTheirTraceContext", func(t *testing.T) {
		prepared, err := backend.Prepare(tracedContext(t), "s-1", events, eventstore.AppendOptions{}, 0)
		require.NoError(t, err)
		assert.JSONEq(t, `{"correlationId":"c","traceparent":"`+traceparent+`"}`, string(prepared[0].MetadataJSON))
		assert.JSONEq(t, `{"traceparent":"`+traceparent+`"}`, string(prepared[1].MetadataJSON))
		assert.Equal(t, traceparent, prepared[1].Metadata.Fields["traceparent"])
		assert.Equal(t, map[string]any{"tracestate": "stale=1"}, shared.Fields, "the caller's metadata is not changed")
		assert.Nil(t, events[1].Metadata.Fields)
	})
	t.Run("UntracedAppendsDoNot", func(t *testing.T) {
		prepared, err := backend.Prepare(context.Background(), "s-1", events, eventstore.AppendOptions{}, 0)
		require.NoError(t, err)
		assert.JSONEq(t, `{"correlationId":"c","tracestate":"stale=1"}`, string(prepared[0].MetadataJSON))
		assert.Equal(t, `{}`, string(prepared[1].MetadataJSON))
	})
	t.Run("TheTraceContextCountsTowardTheLimit", func(t *testing.T) {
		big := []eventstore.EventData{{Type: "A", Data: []byte(`{"s":"` + strings.Repeat("x", 40) + `"}`)}}
		_, err := backend.Prepare(context.Background(), "s-1", big, eventstore.AppendOptions{}, 60)
		require.NoError(t, err)
		_, err = backend.Prepare(tracedContext(t), "s-1", big, eventstore.AppendOptions{}, 60)
		assert.ErrorIs(t, err, eventstore.ErrEventTooLarge)
	})
}

func TestPrepare(t *testing.T) {
	events := []eventstore.EventData{{Type: "A", Data: []byte(`{"a":1}`), Metadata: emmett.Metadata{CorrelationID: "c"}}, {Type: "B", Data: []byte(`[]`), MessageID: "given"}}
	prepared, err := backend.Prepare(context.Background(), "s-1", events, eventstore.AppendOptions{}, 0)
	require.NoError(t, err)
	require.Len(t, prepared, 2)
	assert.NotEmpty(t, prepared[0].MessageID, "a message id is assigned")
	assert.Equal(t, "given", prepared[1].MessageID)
	assert.JSONEq(t, `{"correlationId":"c"}`, string(prepared[0].MetadataJSON))
	assert.Equal(t, `{}`, string(prepared[1].MetadataJSON))
	assert.Empty(t, events[0].MessageID, "the caller's events are not changed")

	_, err = backend.Prepare(context.Background(), "s-1", []eventstore.EventData{{Type: "A", Data: []byte(`{"s":"` + strings.Repeat("x", 100) + `"}`)}}, eventstore.AppendOptions{}, 50)
	assert.ErrorIs(t, err, eventstore.ErrEventTooLarge)
	_, err = backend.Prepare(context.Background(), "s-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`), Metadata: emmett.Metadata{Fields: map[string]any{"x": strings.Repeat("y", 100)}}}}, eventstore.AppendOptions{}, 50)
	assert.ErrorIs(t, err, eventstore.ErrEventTooLarge, "metadata counts toward the limit")
	_, err = backend.Prepare(context.Background(), "s-1", []eventstore.EventData{{Type: "A\x00", Data: []byte(`{}`)}}, eventstore.AppendOptions{}, 0)
	assert.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	var invalid *eventstore.InvalidEventError
	_, err = backend.Prepare(context.Background(), "s-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}, {Type: "B", Data: []byte(`nope`)}}, eventstore.AppendOptions{}, 0)
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, 1, invalid.Index)
	assert.Equal(t, "B", invalid.Type)
}

func TestPrepareAppendMetadata(t *testing.T) {
	events := []eventstore.EventData{
		{Type: "A", Data: []byte(`{}`)},
		{Type: "B", Data: []byte(`{}`), Metadata: emmett.Metadata{CausationID: "own", Fields: map[string]any{"k": "own", "x": 1}}},
	}
	o := backend.ResolveAppend(eventstore.WithMetadata(emmett.Metadata{CorrelationID: "corr", CausationID: "cause", Fields: map[string]any{"k": "base", "y": 2}}))
	prepared, err := backend.Prepare(context.Background(), "s-1", events, o, 0)
	require.NoError(t, err)
	assert.JSONEq(t, `{"correlationId":"corr","causationId":"cause","k":"base","y":2}`, string(prepared[0].MetadataJSON))
	assert.JSONEq(t, `{"correlationId":"corr","causationId":"own","k":"own","x":1,"y":2}`, string(prepared[1].MetadataJSON), "the event's own metadata wins")
	assert.Nil(t, events[0].Metadata.Fields, "the caller's events are not changed")
	assert.Equal(t, map[string]any{"k": "own", "x": 1}, events[1].Metadata.Fields)
}

func TestResolveOptions(t *testing.T) {
	a := backend.ResolveAppend()
	assert.Equal(t, eventstore.DefaultPartition, a.Partition)
	assert.True(t, a.ExpectedVersion.IsAny())
	a = backend.ResolveAppend(eventstore.ExpectVersion(3), eventstore.InPartition("p"), nil)
	assert.Equal(t, "p", a.Partition)
	assert.Equal(t, eventstore.ExpectVersion(3), a.ExpectedVersion)

	r := backend.ResolveRead(eventstore.FromVersion(-4), eventstore.ToVersion(9), eventstore.MaxCount(2))
	assert.Equal(t, eventstore.ReadOptions{From: 1, To: 9, MaxCount: 2, Partition: eventstore.DefaultPartition}, r)
	assert.Equal(t, eventstore.ReadOptions{}, backend.ResolveReadAll(), "no partition reads every partition")
	assert.Equal(t, "p", backend.ResolveReadAll(eventstore.InPartition("p")).Partition)
}

func TestExpectedVersionCode(t *testing.T) {
	cases := map[int64]eventstore.ExpectedVersion{
		-1: eventstore.ExpectAny(),
		-2: eventstore.ExpectNoStream(),
		-3: eventstore.ExpectStreamExists(),
		0:  eventstore.ExpectVersion(0),
		7:  eventstore.ExpectVersion(7),
	}
	for code, e := range cases {
		assert.Equal(t, code, backend.ExpectedVersionCode(e), e.String())
	}
}
