package emmett

// Decider is the pure core of a command-handling domain model, over the user's
// own state (S), command (C) and event (E) types.
//
// Decide turns a command and the current state into new events, or rejects
// the command with an error. Evolve applies one event to a state and returns
// the next state. InitialState returns the state of a stream with no events.
// None of them does I/O or reads the clock: time, ids and anything else from
// the outside world come in through the command.
type Decider[S, C, E any] struct {
	// Decide returns the events cmd produces in state, or the error that
	// rejects it. No events and no error means the command changes
	// nothing.
	Decide func(cmd C, state S) ([]E, error)
	// Evolve returns the state after event. It must not fail: an event is
	// a fact that already happened.
	Evolve func(state S, event E) S
	// InitialState returns the state of a stream with no events.
	InitialState func() S
}

// Fold replays events through Evolve, starting from InitialState.
func (d Decider[S, C, E]) Fold(events ...E) S {
	state := d.InitialState()
	for _, e := range events {
		state = d.Evolve(state, e)
	}
	return state
}

// Run decides cmd against the state folded from the given events, and returns
// the new events and the state after them. It is what a command handler does
// without the store: handy in tests and in examples.
func (d Decider[S, C, E]) Run(cmd C, given ...E) (S, []E, error) {
	state := d.Fold(given...)
	events, err := d.Decide(cmd, state)
	if err != nil {
		return state, nil, err
	}
	for _, e := range events {
		state = d.Evolve(state, e)
	}
	return state, events, nil
}
