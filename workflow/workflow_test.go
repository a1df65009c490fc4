package workflow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestOutputMessage(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		out  workflow.Output[Input, Output]
		want workflow.Message[Input, Output]
	}{
		"send":    {workflow.Output[Input, Output]{Send: CancelOrder{OrderID: "1"}}, workflow.Message[Input, Output]{Kind: workflow.Sent, Output: CancelOrder{OrderID: "1"}}},
		"publish": {workflow.Output[Input, Output]{Publish: OrderCompleted{}, To: "x-1"}, workflow.Message[Input, Output]{Kind: workflow.Published, Output: OrderCompleted{}, To: "x-1"}},
		"after":   {workflow.Output[Input, Output]{Schedule: PaymentTimedOut{}, After: time.Hour}, workflow.Message[Input, Output]{Kind: workflow.Scheduled, Input: PaymentTimedOut{}, At: now.Add(time.Hour)}},
		"at":      {workflow.Output[Input, Output]{Schedule: PaymentTimedOut{}, At: now.Add(time.Minute)}, workflow.Message[Input, Output]{Kind: workflow.Scheduled, Input: PaymentTimedOut{}, At: now.Add(time.Minute)}},
	} {
		m, err := tc.out.Message(now)
		require.NoError(t, err, name)
		assert.Equal(t, tc.want, m, name)
	}
	for name, out := range map[string]workflow.Output[Input, Output]{
		"nothing":          {},
		"two":              {Send: CancelOrder{}, Publish: OrderCompleted{}, To: "x-1"},
		"publish nowhere":  {Publish: OrderCompleted{}},
		"schedule no time": {Schedule: PaymentTimedOut{}},
	} {
		_, err := out.Message(now)
		assert.ErrorIs(t, err, workflow.ErrInvalidOutput, name)
	}
}

func TestNewProcessorRefusesAName(t *testing.T) {
	wf := checkout(time.Minute)
	for _, name := range []string{"", "check-out"} {
		wf.Name = name
		assert.Panics(t, func() { workflow.NewProcessor(memory.New(), wf, inputs, outputs, command.NewRouter()) }, name)
	}
}

// A decision's error, an invalid output or a command without a route stop
// the processor (its failure policy) at the input, with nothing recorded
// but for a failed dispatch, which a restart dispatches again.
func TestProcessorFailures(t *testing.T) {
	ctx := context.Background()
	errBoom := errors.New("boom")
	opts := []workflow.Option{workflow.WithProcessorOptions(projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}))}

	store := memory.New()
	wf := checkout(time.Minute)
	wf.Decide = func(Input, Checkout) ([]workflow.Output[Input, Output], error) { return nil, errBoom }
	place(t, store, "1", 1)
	err := workflow.NewProcessor(store, wf, inputs, outputs, command.NewRouter(), opts...).CatchUp(ctx)
	require.ErrorIs(t, err, errBoom)
	var perr *projection.ProcessorError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "order-1", perr.Event.StreamName)
	assert.Empty(t, types(t, store, "checkout-1"))

	wf.Decide = func(Input, Checkout) ([]workflow.Output[Input, Output], error) {
		return []workflow.Output[Input, Output]{{Publish: OrderCompleted{}}}, nil
	}
	require.ErrorIs(t, workflow.NewProcessor(store, wf, inputs, outputs, command.NewRouter(), opts...).CatchUp(ctx), workflow.ErrInvalidOutput)
	assert.Empty(t, types(t, store, "checkout-1"))

	err = workflow.NewProcessor(store, checkout(time.Minute), inputs, outputs, command.NewRouter(), opts...).CatchUp(ctx)
	require.ErrorIs(t, err, command.ErrNoRoute)
	assert.Len(t, types(t, store, "checkout-1"), 3, "decided and recorded, not dispatched")
	require.NoError(t, workflow.NewProcessor(store, checkout(time.Minute), inputs, outputs, newRouter(store, nil, nil), opts...).CatchUp(ctx))
	assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-1"))
}

// An input whose ID is "" is not the workflow's; the workflow's own
// records are never its inputs.
func TestProcessorSkips(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	place(t, store, "", 1)
	place(t, store, "2", 1)
	p := newProcessor(store, time.Minute, routerHooks{})
	require.NoError(t, p.CatchUp(ctx))
	require.NoError(t, p.CatchUp(ctx))
	assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-2"))
	assert.Len(t, types(t, store, "checkout-2"), 3)
	assert.Empty(t, types(t, store, "checkout-"))
}

// The handling of an input is a span linked to the span that appended
// the input, and the commands it dispatched are its children.
func TestProcessorTraces(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tel := telemetry.Config{TracerProvider: tp}
	store := memory.New(memory.WithTelemetry(tel))

	appendCtx, appendSpan := tp.Tracer("test").Start(ctx, "request")
	data, err := eventstore.Encode(inputs, []Input{OrderPlaced{OrderID: "1", Amount: 5}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = store.AppendToStream(appendCtx, "order-1", data)
	require.NoError(t, err)
	appendSpan.End()

	h := command.NewDeciderHandler(store, ledger, facts, command.WithTelemetry(tel))
	r := command.NewRouter()
	command.RouteDecider(r, h, func(c RequestPayment) string { return "payment-" + c.OrderID })
	p := workflow.NewProcessor(store, checkout(time.Minute), inputs, outputs, r, workflow.WithTelemetry(tel))
	require.NoError(t, p.CatchUp(ctx))

	var handle sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == workflow.SpanHandle {
			handle = s
		}
	}
	require.NotNil(t, handle)
	require.Len(t, handle.Links(), 1)
	assert.Equal(t, appendSpan.SpanContext().TraceID(), handle.Links()[0].SpanContext.TraceID(), "linked to the request's trace")
	var dispatched bool
	for _, s := range spans.Ended() {
		if s.Name() == telemetry.SpanCommandHandle && s.Parent().SpanID() == handle.SpanContext().SpanID() {
			dispatched = true
		}
	}
	assert.True(t, dispatched, "the command's span is a child of the handling's")

	// The payment event's metadata carries the handling's trace.
	for rec, err := range store.ReadStream(ctx, "payment-1") {
		require.NoError(t, err)
		assert.Equal(t, handle.SpanContext().TraceID(), telemetry.SpanContextFromMetadata(rec.Metadata).TraceID())
	}
}

func TestUpgradeAndSchema(t *testing.T) {
	up := workflow.Upgrade(inputs, outputs)
	name, v, data, err := up("received:OrderPlaced", 1, []byte(`{"OrderID":"1","Amount":3}`))
	require.NoError(t, err)
	assert.Equal(t, "received:OrderPlaced", name)
	assert.Equal(t, 1, v)
	assert.JSONEq(t, `{"OrderID":"1","Amount":3}`, string(data))
	_, _, _, err = up("sent:CancelOrder", 0, []byte(`{}`))
	require.NoError(t, err)
	for _, unknown := range []string{"OrderPlaced", "sent:OrderPlaced", "other:OrderPlaced"} {
		_, _, _, err = up(unknown, 1, []byte(`{}`))
		assert.ErrorIs(t, err, emmett.ErrUnknownEventType, unknown)
	}

	s := workflow.Schema(inputs, outputs)
	assert.NoError(t, s.Reads("scheduled:PaymentTimedOut", 1))
	assert.NoError(t, s.Reads("published:OrderCompleted", 1))
	assert.ErrorIs(t, s.Reads("received:RequestPayment", 1), emmett.ErrUnknownEventType)
}

// An application that runs the workflow's reactor on its own (in a
// projection.Group, say) runs RunSchedule beside it.
func TestRunScheduleBesideTheReactor(t *testing.T) {
	store := memory.New()
	var clk clock
	p := newProcessor(store, time.Minute, routerHooks{}, workflow.WithClock(clk.now))
	place(t, store, "1", 1)
	require.NoError(t, p.Reactor().CatchUp(context.Background()))
	assert.Empty(t, types(t, store, "cancellation-1"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunSchedule(ctx) }()
	clk.advance(time.Hour)
	eventually(t, func() bool { return len(types(t, store, "cancellation-1")) == 1 })
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"OrderCancelled"}, types(t, store, "cancellation-1"))
}
