// Package spec is Given/When/Then testing for Emmett: for deciders,
// workflows, document projections and HTTP handlers.
//
// A decider spec ([For]) states the events that happened, the command, and
// what must come of it:
//
//	spec.For(t, cartDecider).
//		Given(ProductItemAdded{...}).
//		When(ConfirmShoppingCart{...}).
//		Then(ShoppingCartConfirmed{...})
//
// A projection spec ([ForDocuments]) states events in streams and the
// documents a projection keeps of them, and runs the projection both as
// appends and as one catch-up batch; an HTTP spec ([ForHTTP]) states the
// streams in a store, a request, and the response and new events.
//
// A workflow spec ([ForWorkflow]) states the inputs a workflow instance
// handled, the next input, and the outputs it must decide; an end-to-end
// workflow spec ([ForWorkflowProcessor]) runs a workflow's processor on a
// real store and checks the events it leaves in streams.
//
// A failure prints the given events, the command or request, and the
// expected and actual outcome, with testify's diff.
package spec

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DeciderSpec is a spec for one Decider. Build it with For.
type DeciderSpec[S, C, E any] struct {
	t       testing.TB
	decider emmett.Decider[S, C, E]
}

// For starts a spec for decider.
func For[S, C, E any](t testing.TB, decider emmett.Decider[S, C, E]) *DeciderSpec[S, C, E] {
	return &DeciderSpec[S, C, E]{t: t, decider: decider}
}

// Given states the events that already happened, in order.
func (s *DeciderSpec[S, C, E]) Given(events ...E) *DeciderGiven[S, C, E] {
	return &DeciderGiven[S, C, E]{spec: s, given: events}
}

// When states the command against a stream with no events.
func (s *DeciderSpec[S, C, E]) When(cmd C) *DeciderWhen[S, C, E] { return s.Given().When(cmd) }

// DeciderGiven is a decider spec with its history stated.
type DeciderGiven[S, C, E any] struct {
	spec  *DeciderSpec[S, C, E]
	given []E
}

// When states the command; the decision runs at once.
func (g *DeciderGiven[S, C, E]) When(cmd C) *DeciderWhen[S, C, E] {
	state := g.spec.decider.Fold(g.given...)
	events, err := g.spec.decider.Decide(cmd, state)
	return &DeciderWhen[S, C, E]{given: g, cmd: cmd, state: state, events: events, err: err}
}

// DeciderWhen is a decider spec whose command has been decided; its Then
// methods assert the outcome.
type DeciderWhen[S, C, E any] struct {
	given  *DeciderGiven[S, C, E]
	cmd    C
	state  S
	events []E
	err    error
}

func (w *DeciderWhen[S, C, E]) t() testing.TB { return w.given.spec.t }

// scenario describes the spec for failure messages.
func (w *DeciderWhen[S, C, E]) scenario() string {
	return describeScenario(w.given.given, "(no events)", w.cmd, w.err, "events", w.events, func(e E) string { return Describe(e) })
}

// Then asserts that the command succeeded with exactly these events, in
// order.
func (w *DeciderWhen[S, C, E]) Then(expected ...E) *DeciderWhen[S, C, E] {
	t := w.t()
	t.Helper()
	requireExactly(t, w.err, expected, w.events, "the command failed", "unexpected events", w.scenario())
	return w
}

// ThenState asserts the state after the given and the new events.
func (w *DeciderWhen[S, C, E]) ThenState(expected S) *DeciderWhen[S, C, E] {
	t := w.t()
	t.Helper()
	require.NoError(t, w.err, "the command failed\n%s", w.scenario())
	state := w.state
	for _, e := range w.events {
		state = w.given.spec.decider.Evolve(state, e)
	}
	require.Equal(t, expected, state, "unexpected state\n%s", w.scenario())
	return w
}

// ThenNothingHappened asserts that the command succeeded without events.
func (w *DeciderWhen[S, C, E]) ThenNothingHappened() {
	t := w.t()
	t.Helper()
	require.NoError(t, w.err, "the command failed\n%s", w.scenario())
	require.Empty(t, w.events, "expected no events\n%s", w.scenario())
}

// ThenError asserts that the command failed with an error that
// errors.Is matches target.
func (w *DeciderWhen[S, C, E]) ThenError(target error) {
	t := w.t()
	t.Helper()
	require.Error(t, w.err, "expected an error matching %v\n%s", target, w.scenario())
	require.ErrorIs(t, w.err, target, "\n%s", w.scenario())
}

// ThenErrorAs asserts that the command failed with an error that
// errors.As can assign to target (a pointer to an error type), and leaves
// it there for further checks.
func (w *DeciderWhen[S, C, E]) ThenErrorAs(target any) {
	t := w.t()
	t.Helper()
	require.Error(t, w.err, "expected an error of type %T\n%s", target, w.scenario())
	require.True(t, errors.As(w.err, target), "error %v is not a %T\n%s", w.err, target, w.scenario())
}

// ThenErrorMatches asserts that the command failed and that check approves
// the error.
func (w *DeciderWhen[S, C, E]) ThenErrorMatches(check func(err error) bool) {
	t := w.t()
	t.Helper()
	require.Error(t, w.err, "expected an error\n%s", w.scenario())
	require.True(t, check(w.err), "error %v does not match\n%s", w.err, w.scenario())
}

// ThenAssert hands the outcome to an assertion function, for checks the
// other forms do not cover.
func (w *DeciderWhen[S, C, E]) ThenAssert(check func(t testing.TB, events []E, err error)) {
	t := w.t()
	t.Helper()
	check(t, w.events, w.err)
	if t.Failed() {
		assert.Fail(t, "spec failed", w.scenario())
	}
}

// Describe renders a value for failure messages: its type, then its fields.
func Describe(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%T%+v", v, v)
}

// Stored returns the event that data, stored under typeName at schema
// version, reads as through the registry's upcasters (and renamed types):
// give a decider spec events of older versions, as a stream holds them.
// It fails the test when the registry cannot read it.
func Stored[E any](t testing.TB, events *emmett.Events[E], typeName string, version int, data string) E {
	t.Helper()
	e, err := events.DecodeVersion(typeName, version, []byte(data))
	require.NoError(t, err, "reading %s version %d %s", typeName, version, data)
	return e
}
