package workflow

import (
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Workflow is a process manager on the decider model, over the user's own
// input (I), state (S) and output (O) types: I is what the workflow reacts
// to (events of other streams, and the messages it schedules for itself),
// O what it sends (commands) and publishes (events).
//
// Decide and Evolve are pure: no I/O, no clock. Time comes in through the
// inputs, and a timeout is an input the workflow schedules for itself.
type Workflow[I, S, O any] struct {
	// Name names the workflow: its processor and the type of its
	// instances' streams (Name-id), so it must not contain '-'.
	Name string
	// ID returns the id of the instance an input is for (a correlation
	// id found in the input, such as an order id); "" when the input is
	// not for this workflow.
	ID func(input I) string
	// Decide returns the outputs of input in state, or the error that
	// fails its handling (the processor retries it, then applies its
	// failure policy).
	Decide func(input I, state S) ([]Output[I, O], error)
	// Evolve returns the state after a message of the instance's stream:
	// an input received, or an output decided. It must not fail.
	Evolve func(state S, m Message[I, O]) S
	// InitialState returns the state of an instance with no messages.
	InitialState func() S
}

// Output is one outcome of a decision. Set exactly one of Send, Publish
// (with To) and Schedule (with At or After), as a composite literal:
//
//	[]workflow.Output[Input, Output]{
//		{Send: CancelOrder{OrderID: id}},
//		{Publish: OrderTimedOut{OrderID: id}, To: "audit-" + id},
//		{Schedule: PaymentTimedOut{OrderID: id}, After: 15 * time.Minute},
//	}
type Output[I, O any] struct {
	// Send is a command, dispatched through the processor's
	// command.Router to the handler of its type.
	Send O
	// Publish is an event, appended to the stream To.
	Publish O
	// To is the stream a published event is appended to.
	To string
	// Schedule is a message delivered back to this instance, as an
	// input, once At has come (or After has passed since the decision).
	Schedule I
	// At is when a scheduled message is due.
	At time.Time
	// After is how long after the decision a scheduled message is due,
	// when At is not given.
	After time.Duration
}

// Kind tells what a Message of an instance's stream is.
type Kind string

// The kinds of Message. A record of an instance's stream is stored under
// its kind, ':' and the type name of the input or output it holds
// ("received:OrderPlaced", "sent:CancelOrder"): the processors that select
// events by type name never take a record for the event it holds.
const (
	// Received is an input the instance handled (an event, or a
	// scheduled message that came due).
	Received Kind = "received"
	// Sent is a command the instance sent.
	Sent Kind = "sent"
	// Published is an event the instance published.
	Published Kind = "published"
	// Scheduled is a message the instance scheduled for itself.
	Scheduled Kind = "scheduled"
)

// Message is a record of an instance's stream, as Evolve folds it: an
// input received (Input), a command sent or an event published (Output),
// or a message scheduled (Input, due At).
type Message[I, O any] struct {
	// Kind tells which fields are set.
	Kind Kind
	// Input is the input received, or the message scheduled.
	Input I
	// Output is the command sent or the event published.
	Output O
	// To is the stream an event was published to.
	To string
	// At is when a scheduled message is due.
	At time.Time
}

// ErrInvalidOutput is matched by the error of a decision with an output
// that sets none or several of Send, Publish and Schedule, a Publish
// without To, or a Schedule without At or After.
var ErrInvalidOutput = errors.New("workflow: invalid output")

// Message returns the record o becomes in its instance's stream, a
// scheduled message due After from now; the error matches
// ErrInvalidOutput when o is not valid.
func (o Output[I, O]) Message(now time.Time) (Message[I, O], error) {
	set := 0
	var m Message[I, O]
	if !isZero(o.Send) {
		set++
		m = Message[I, O]{Kind: Sent, Output: o.Send}
	}
	if !isZero(o.Publish) {
		set++
		if o.To == "" {
			return m, fmt.Errorf("%w: publishing %T to no stream (To)", ErrInvalidOutput, o.Publish)
		}
		m = Message[I, O]{Kind: Published, Output: o.Publish, To: o.To}
	}
	if !isZero(o.Schedule) {
		set++
		at := o.At
		if at.IsZero() {
			if o.After <= 0 {
				return m, fmt.Errorf("%w: scheduling %T with neither At nor After", ErrInvalidOutput, o.Schedule)
			}
			at = now.Add(o.After)
		}
		m = Message[I, O]{Kind: Scheduled, Input: o.Schedule, At: at.UTC()}
	}
	if set != 1 {
		return m, fmt.Errorf("%w: %d of Send, Publish and Schedule set, exactly one must be", ErrInvalidOutput, set)
	}
	return m, nil
}

// isZero reports whether v is its type's zero value (nil for an
// interface).
func isZero[T any](v T) bool { return reflect.ValueOf(&v).Elem().IsZero() }

// Run decides input against the state folded from the given messages, as
// a processor does without a store: it returns the outputs and the state
// after the input and its outputs (folded in that order, as the processor
// records them). Scheduled messages with After are due
// After from now. Handy in tests and examples; see also testing/spec.
func (w Workflow[I, S, O]) Run(now time.Time, input I, given ...Message[I, O]) (S, []Output[I, O], error) {
	state := w.InitialState()
	for _, m := range given {
		state = w.Evolve(state, m)
	}
	outs, err := w.Decide(input, state)
	if err != nil {
		return state, nil, err
	}
	state = w.Evolve(state, Message[I, O]{Kind: Received, Input: input})
	for _, o := range outs {
		m, err := o.Message(now)
		if err != nil {
			return state, nil, err
		}
		state = w.Evolve(state, m)
	}
	return state, outs, nil
}
