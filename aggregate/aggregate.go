// Package aggregate loads a typed state by replaying a stream through a
// Decider's Evolve function.
package aggregate

import (
	"context"
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// State is a stream's state as loaded by replaying it.
type State[S any] struct {
	// State is the state after the last event (InitialState when the stream
	// does not exist).
	State S
	// Version is the stream's version: the position of its last event, 0
	// when the stream does not exist.
	Version int64
	// Exists reports whether the stream has any events.
	Exists bool
}

// Option configures Load.
type Option func(*options)

type options struct {
	skipUnknown bool
	read        []eventstore.ReadOption
	each        func(emmett.RecordedEvent)
}

// SkipUnknownEvents makes Load skip events whose type the registry does not
// know, instead of failing. Use it for a state that only cares about some of
// the events of a stream, or while rolling out a new event type. The version
// still counts skipped events.
func SkipUnknownEvents() Option { return func(o *options) { o.skipUnknown = true } }

// WithEachRecorded makes Load call f with each event it reads, as stored,
// before it is decoded (command handlers look for the events of an
// idempotency key with it).
func WithEachRecorded(f func(emmett.RecordedEvent)) Option {
	return func(o *options) { o.each = f }
}

// WithReadOptions passes options (such as eventstore.InPartition or
// eventstore.ToVersion) to the stream read.
func WithReadOptions(opts ...eventstore.ReadOption) Option {
	return func(o *options) { o.read = append(o.read, opts...) }
}

// Load replays a stream: it reads the stream's events lazily, decodes each
// with events and folds it into initial() through evolve.
//
// An event of a type the registry does not know fails the load with an error
// matching emmett.ErrUnknownEventType, unless SkipUnknownEvents is given.
func Load[S, E any](ctx context.Context, store eventstore.StreamReader, events *emmett.Events[E], stream string,
	evolve func(S, E) S, initial func() S, opts ...Option) (State[S], error) {
	return load(ctx, store, events, stream, evolve, State[S]{State: initial()}, opts)
}

// LoadFrom goes on replaying a stream from a state loaded before: it reads
// only the events after from.Version and folds them into from.State
// through evolve. It is Load for a caller that keeps states (a command
// handler's cache), and returns from as it is when the stream has nothing
// new. The events up to from.Version must be the ones from.State was built
// from, which an event store's append-only streams guarantee.
//
// from.State is folded into: with an evolve that changes a state in place
// (a map, a slice's elements), from.State is changed too.
func LoadFrom[S, E any](ctx context.Context, store eventstore.StreamReader, events *emmett.Events[E], stream string,
	evolve func(S, E) S, from State[S], opts ...Option) (State[S], error) {
	return load(ctx, store, events, stream, evolve, from, append(opts[:len(opts):len(opts)], WithReadOptions(eventstore.FromVersion(from.Version+1))))
}

func load[S, E any](ctx context.Context, store eventstore.StreamReader, events *emmett.Events[E], stream string,
	evolve func(S, E) S, res State[S], opts []Option) (State[S], error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for rec, err := range store.ReadStream(ctx, stream, o.read...) {
		if err != nil {
			return State[S]{}, err
		}
		res.Version, res.Exists = rec.StreamPosition, true
		if o.each != nil {
			o.each(rec)
		}
		ev, err := events.DecodeVersion(rec.Type, rec.SchemaVersion, rec.Data) // through the upcasters
		if err != nil {
			if o.skipUnknown && errors.Is(err, emmett.ErrUnknownEventType) {
				continue
			}
			return State[S]{}, &LoadError{Stream: stream, Position: rec.StreamPosition, Err: err}
		}
		res.State = evolve(res.State, ev)
	}
	return res, nil
}

// LoadDecider is Load with the Evolve and InitialState of a Decider.
func LoadDecider[S, C, E any](ctx context.Context, store eventstore.StreamReader, decider emmett.Decider[S, C, E],
	events *emmett.Events[E], stream string, opts ...Option) (State[S], error) {
	return Load(ctx, store, events, stream, decider.Evolve, decider.InitialState, opts...)
}

// LoadError reports the event a load could not replay. It unwraps to the
// cause, so errors.Is(err, emmett.ErrUnknownEventType) still works.
type LoadError struct {
	// Stream is the stream being loaded.
	Stream string
	// Position is the stream position of the event that failed.
	Position int64
	// Err is the cause: an unknown event type or malformed event data.
	Err error
}

// Error names the stream, the position and the cause.
func (e *LoadError) Error() string {
	return fmt.Sprintf("aggregate: loading stream %q at position %d: %v", e.Stream, e.Position, e.Err)
}

// Unwrap returns the cause.
func (e *LoadError) Unwrap() error { return e.Err }
