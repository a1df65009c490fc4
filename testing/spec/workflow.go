package spec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/require"
)

// WorkflowSpec is a spec for one workflow.Workflow. Build it with
// ForWorkflow:
//
//	spec.ForWorkflow(t, checkout).
//		Given(OrderPlaced{...}).
//		When(PaymentTimedOut{...}).
//		Then(workflow.Output[Input, Output]{Send: CancelOrder{...}})
type WorkflowSpec[I, S, O any] struct {
	t   testing.TB
	wf  workflow.Workflow[I, S, O]
	now time.Time
}

// ForWorkflow starts a spec for wf.
func ForWorkflow[I, S, O any](t testing.TB, wf workflow.Workflow[I, S, O]) *WorkflowSpec[I, S, O] {
	return &WorkflowSpec[I, S, O]{t: t, wf: wf, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// At sets the time of the decisions (when a message scheduled After a
// duration is due, in the state); 2026-01-01 UTC by default.
func (s *WorkflowSpec[I, S, O]) At(now time.Time) *WorkflowSpec[I, S, O] {
	s.now = now
	return s
}

// Given states the inputs the instance handled already, in order: each
// is decided and recorded with its outputs, as the processor does (a
// failing one fails the test).
func (s *WorkflowSpec[I, S, O]) Given(inputs ...I) *WorkflowGiven[I, S, O] {
	s.t.Helper()
	var history []workflow.Message[I, O]
	for _, in := range inputs {
		_, outs, err := s.wf.Run(s.now, in, history...)
		require.NoError(s.t, err, "given input %s failed", Describe(in))
		history = append(history, workflow.Message[I, O]{Kind: workflow.Received, Input: in})
		for _, o := range outs {
			m, err := o.Message(s.now)
			require.NoError(s.t, err, "given input %s", Describe(in))
			history = append(history, m)
		}
	}
	return &WorkflowGiven[I, S, O]{spec: s, given: inputs, history: history}
}

// When states the input to an instance with no history.
func (s *WorkflowSpec[I, S, O]) When(input I) *WorkflowWhen[I, S, O] { return s.Given().When(input) }

// WorkflowGiven is a workflow spec with its history stated.
type WorkflowGiven[I, S, O any] struct {
	spec    *WorkflowSpec[I, S, O]
	given   []I
	history []workflow.Message[I, O]
}

// When states the input; the decision runs at once.
func (g *WorkflowGiven[I, S, O]) When(input I) *WorkflowWhen[I, S, O] {
	state, outs, err := g.spec.wf.Run(g.spec.now, input, g.history...)
	return &WorkflowWhen[I, S, O]{given: g, input: input, state: state, outputs: outs, err: err}
}

// WorkflowWhen is a workflow spec whose input has been decided; its Then
// methods assert the outcome.
type WorkflowWhen[I, S, O any] struct {
	given   *WorkflowGiven[I, S, O]
	input   I
	state   S
	outputs []workflow.Output[I, O]
	err     error
}

func (w *WorkflowWhen[I, S, O]) t() testing.TB { return w.given.spec.t }

func (w *WorkflowWhen[I, S, O]) scenario() string {
	return describeScenario(w.given.given, "(no inputs)", w.input, w.err, "outputs", w.outputs,
		func(o workflow.Output[I, O]) string { return fmt.Sprintf("%+v", o) })
}

// Then asserts that the decision succeeded with exactly these outputs, in
// order.
func (w *WorkflowWhen[I, S, O]) Then(expected ...workflow.Output[I, O]) *WorkflowWhen[I, S, O] {
	t := w.t()
	t.Helper()
	requireExactly(t, w.err, expected, w.outputs, "the decision failed", "unexpected outputs", w.scenario())
	return w
}

// ThenNothing asserts that the decision succeeded without outputs.
func (w *WorkflowWhen[I, S, O]) ThenNothing() {
	t := w.t()
	t.Helper()
	require.NoError(t, w.err, "the decision failed\n%s", w.scenario())
	require.Empty(t, w.outputs, "expected no outputs\n%s", w.scenario())
}

// ThenState asserts the state after the input and its outputs.
func (w *WorkflowWhen[I, S, O]) ThenState(expected S) *WorkflowWhen[I, S, O] {
	t := w.t()
	t.Helper()
	require.NoError(t, w.err, "the decision failed\n%s", w.scenario())
	require.Equal(t, expected, w.state, "unexpected state\n%s", w.scenario())
	return w
}

// ThenError asserts that the decision failed with an error that errors.Is
// matches target.
func (w *WorkflowWhen[I, S, O]) ThenError(target error) {
	t := w.t()
	t.Helper()
	require.Error(t, w.err, "expected an error matching %v\n%s", target, w.scenario())
	require.ErrorIs(t, w.err, target, "\n%s", w.scenario())
}

// WorkflowRun is an end-to-end spec: a workflow's processor on a real
// store, given input events in streams, run, and checked by the events it
// left in streams. Build it with ForWorkflowProcessor:
//
//	spec.ForWorkflowProcessor(t, store, processor, inputs).
//		Given("order-1", OrderPlaced{...}).
//		When("order-1", PaymentReceived{...}).
//		ThenStream("completed-1", "OrderCompleted")
type WorkflowRun[I any] struct {
	t      testing.TB
	store  eventstore.Store
	p      interface{ CatchUp(context.Context) error }
	inputs *emmett.Events[I]
}

// ForWorkflowProcessor starts an end-to-end spec of processor (a
// *workflow.Processor) on store, whose input events inputs encodes.
func ForWorkflowProcessor[I any](t testing.TB, store eventstore.Store, processor interface{ CatchUp(context.Context) error }, inputs *emmett.Events[I]) *WorkflowRun[I] {
	return &WorkflowRun[I]{t: t, store: store, p: processor, inputs: inputs}
}

// Given appends input events to stream.
func (r *WorkflowRun[I]) Given(stream string, events ...I) *WorkflowRun[I] {
	r.t.Helper()
	data, err := eventstore.Encode(r.inputs, events, emmett.Metadata{})
	require.NoError(r.t, err)
	_, err = r.store.AppendToStream(context.Background(), stream, data)
	require.NoError(r.t, err, "appending to %s", stream)
	return r
}

// When appends input events to stream, then runs the processor until it
// has handled every event appended so far and delivered the scheduled
// messages due (CatchUp).
func (r *WorkflowRun[I]) When(stream string, events ...I) *WorkflowRun[I] {
	r.t.Helper()
	if len(events) > 0 {
		r.Given(stream, events...)
	}
	require.NoError(r.t, r.p.CatchUp(context.Background()), "running the workflow processor")
	return r
}

// ThenStream asserts the type names of the events of stream, in order.
func (r *WorkflowRun[I]) ThenStream(stream string, typeNames ...string) *WorkflowRun[I] {
	r.t.Helper()
	actual := []string{}
	for rec, err := range r.store.ReadStream(context.Background(), stream) {
		require.NoError(r.t, err)
		actual = append(actual, rec.Type)
	}
	if typeNames == nil {
		typeNames = []string{}
	}
	require.Equal(r.t, typeNames, actual, "the events of stream %s", stream)
	return r
}
