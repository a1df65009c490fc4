// Package command handles commands the event-sourcing way: load the state of
// a stream by replaying it, decide what happens, and append the new events
// with the version that was read, so that a concurrent change is caught.
//
// A Handler is built from a state's Evolve and InitialState and takes a
// decision function per call; a DeciderHandler is built from a whole
// emmett.Decider and takes commands.
//
// When the caller gives no exact expected version, a conflict with a
// concurrent writer is retried (reload, decide again, append) with bounded,
// jittered exponential backoff. When the caller gives one (for example from
// an HTTP If-Match header), the conflict is returned: the caller decided on
// a version that is no longer current.
//
// Handling is traced and measured with OpenTelemetry (see WithTelemetry and
// the telemetry package): each Handle is an emmett.command.handle span, in
// the caller's trace, with the command's Go type, the stream, its versions
// before and after, the events appended, the attempts and the outcome, and
// a child span per step of each attempt (emmett.command.load, .decide,
// .append); its duration is measured by command type and outcome.
package command

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/telemetry"
)

// Result is the outcome of handling a command.
type Result[S, E any] struct {
	// State is the stream's state after the new events.
	State S
	// Events are the new events as recorded; empty when the decision
	// produced none (and nothing was appended).
	Events []emmett.Recorded[E]
	// NextExpectedVersion is the stream's version after the command.
	NextExpectedVersion int64
	// Created reports whether the command created the stream.
	Created bool
	// Position is the global position of the last new event (zero when
	// nothing was appended): wait for it to read your writes from an
	// asynchronous read model.
	Position eventstore.Position
	// Duplicate reports a command handled already under its idempotency
	// key (eventstore.WithIdempotencyKey): nothing was decided nor
	// appended; Events, NextExpectedVersion, Created and Position are the
	// first handling's, State the stream's current state.
	Duplicate bool
}

// Handler loads a state, runs a decision and appends its events.
type Handler[S, E any] struct {
	store   eventstore.Store
	events  *emmett.Events[E]
	evolve  func(S, E) S
	initial func() S
	cfg     config
	tel     *instrument.Command
	cache   *stateCache[S]
}

// NewHandler returns a handler for streams whose state is built by evolve
// from initial, with events encoded and decoded by events.
func NewHandler[S, E any](store eventstore.Store, events *emmett.Events[E], evolve func(S, E) S, initial func() S, opts ...Option) *Handler[S, E] {
	cfg := config{retry: DefaultConflictRetry()}
	for _, o := range opts {
		o(&cfg)
	}
	return &Handler[S, E]{store: store, events: events, evolve: evolve, initial: initial, cfg: cfg,
		tel: instrument.NewCommand(cfg.telemetry, scope), cache: newStateCache[S](cfg.cacheSize)}
}

// scope is the instrumentation scope of the handlers' telemetry.
const scope = "github.com/emmett-go/emmett/command"

// Handle runs decide against the current state of stream and appends the
// events it returns. No events means no append. A decide error is returned
// as it is, so errors.Is and errors.As see the domain's own errors.
func (h *Handler[S, E]) Handle(ctx context.Context, stream string, decide func(state S) ([]E, error), opts ...eventstore.AppendOption) (Result[S, E], error) {
	return h.handle(ctx, nil, stream, decide, opts)
}

// handle is Handle for a command of type cmdType (nil when the command has
// no type of its own), in an emmett.command.handle span.
func (h *Handler[S, E]) handle(ctx context.Context, cmdType reflect.Type, stream string, decide func(state S) ([]E, error), opts []eventstore.AppendOption) (res Result[S, E], err error) {
	ctx, op := h.tel.Start(ctx, cmdType, stream)
	defer func() { op.End(res.NextExpectedVersion, len(res.Events), err) }()
	ho := backend.ResolveAppend(opts...)
	_, exact := ho.ExpectedVersion.Exact()
	retry := !exact && h.cfg.retry.MaxAttempts > 1
	for attempt := 1; ; attempt++ {
		op.Attempt()
		res, err := h.handleOnce(ctx, stream, decide, ho, opts, &op)
		if err == nil || !retry || !errors.Is(err, errRace) || attempt >= h.cfg.retry.MaxAttempts {
			return res, unwrapRace(err)
		}
		if err := h.cfg.retry.Wait(ctx, attempt); err != nil {
			return Result[S, E]{}, err
		}
	}
}

// errRace marks a conflict of the append itself: another writer appended
// between our read and our write. Only these are worth retrying.
var errRace = errors.New("command: concurrent append")

type raceError struct{ err error }

func (e *raceError) Error() string        { return e.err.Error() }
func (e *raceError) Unwrap() error        { return e.err }
func (e *raceError) Is(target error) bool { return target == errRace }

func unwrapRace(err error) error {
	if r, ok := err.(*raceError); ok {
		return r.err
	}
	return err
}

func (h *Handler[S, E]) handleOnce(ctx context.Context, stream string, decide func(S) ([]E, error), ho eventstore.AppendOptions, opts []eventstore.AppendOption, op *instrument.Handling) (Result[S, E], error) {
	loadOpts := append([]aggregate.Option{aggregate.WithReadOptions(eventstore.InPartition(ho.Partition))}, h.cfg.load...)
	stepCtx, span := op.Step(ctx, telemetry.SpanCommandLoad)
	// Under an idempotency key, the events of a first handling are found
	// while the stream is read: their ids derive from the key.
	var handled []emmett.RecordedEvent
	if key := ho.IdempotencyKey; key != "" {
		// The id the next event of the first handling has: derived once,
		// and again only after a match, not for every event replayed.
		next := eventstore.IdempotentMessageID(key, stream, 0)
		loadOpts = append(loadOpts, aggregate.WithEachRecorded(func(rec emmett.RecordedEvent) {
			if rec.MessageID == next {
				handled = append(handled, rec)
				next = eventstore.IdempotentMessageID(key, stream, len(handled))
			}
		}))
	}
	// A cached state is taken out of the cache and decided on as it is,
	// without a read: the append's expected version checks it. It goes
	// back to the cache once known to be the stream's at its version.
	// Under an idempotency key the whole stream is read.
	key := cacheKey{ho.Partition, stream}
	var loaded aggregate.State[S]
	var err error
	verified := true
	if cached, ok := h.cache.take(key); ok && ho.IdempotencyKey == "" {
		loaded, verified = cached, false
	} else {
		loaded, err = aggregate.Load(stepCtx, h.store, h.events, stream, h.evolve, h.initial, loadOpts...)
	}
	instrument.EndSpan(span, err)
	if err != nil {
		return Result[S, E]{}, err
	}
	// verify reads what was appended since the cached state's version:
	// the state is then the stream's current one.
	verify := func() error {
		stepCtx, span := op.Step(ctx, telemetry.SpanCommandLoad)
		var err error
		loaded, err = aggregate.LoadFrom(stepCtx, h.store, h.events, stream, h.evolve, loaded, loadOpts...)
		instrument.EndSpan(span, err)
		verified = true
		return err
	}
	for {
		op.Loaded(loaded.Version)
		if len(handled) > 0 {
			h.cache.put(key, loaded)
			return h.duplicate(loaded.State, handled)
		}
		if !ho.ExpectedVersion.Matches(loaded.Version) {
			if !verified {
				if err := verify(); err != nil {
					return Result[S, E]{}, err
				}
				continue
			}
			h.cache.put(key, loaded)
			return Result[S, E]{}, &eventstore.VersionConflictError{Stream: stream, Expected: ho.ExpectedVersion, Actual: loaded.Version}
		}
		_, span = op.Step(ctx, telemetry.SpanCommandDecide)
		newEvents, err := decide(loaded.State)
		instrument.EndSpan(span, err)
		if (err != nil || len(newEvents) == 0) && !verified {
			// A rejection, or nothing to do, is no append for the
			// expected version to check: decide again on the stream's
			// current state.
			if err := verify(); err != nil {
				return Result[S, E]{}, err
			}
			continue
		}
		if err != nil {
			h.cache.put(key, loaded)
			op.Rejected()
			return Result[S, E]{}, err
		}
		res := Result[S, E]{State: loaded.State, NextExpectedVersion: loaded.Version}
		if len(newEvents) == 0 {
			h.cache.put(key, loaded)
			return res, nil
		}
		data, err := eventstore.Encode(h.events, newEvents, emmett.Metadata{})
		if err != nil {
			return Result[S, E]{}, err
		}
		stepCtx, span = op.Step(ctx, telemetry.SpanCommandAppend)
		// The caller's options (partition, metadata) go to the store, with
		// the version that was read as the expected version.
		appended, err := h.store.AppendToStream(stepCtx, stream, data, append(opts[:len(opts):len(opts)], eventstore.ExpectVersion(loaded.Version))...)
		instrument.EndSpan(span, err)
		if err == nil && appended.Duplicate {
			// Handled meanwhile, under the same key, by a concurrent retry.
			return h.duplicate(loaded.State, appended.Events)
		}
		if err != nil {
			if errors.Is(err, eventstore.ErrVersionConflict) {
				if !verified {
					// The cached state was behind: read what it missed,
					// and decide again.
					if err := verify(); err != nil {
						return Result[S, E]{}, err
					}
					continue
				}
				return Result[S, E]{}, &raceError{err}
			}
			return Result[S, E]{}, err
		}
		res.Events = make([]emmett.Recorded[E], len(newEvents))
		for i, e := range newEvents {
			res.State = h.evolve(res.State, e)
			res.Events[i] = emmett.Recorded[E]{Event: e, RecordedEvent: appended.Events[i]}
		}
		res.NextExpectedVersion = appended.NextExpectedVersion
		res.Created = appended.Created
		res.Position = appended.Position
		h.cache.put(key, aggregate.State[S]{State: res.State, Version: res.NextExpectedVersion, Exists: true})
		return res, nil
	}
}

// Load returns the current state of stream, as a command would find it:
// replayed, or, with WithStateCache, the cached state with the events
// appended since. It is for reads that lead to a command elsewhere (which
// cart a client's stream names as current); a command's own decision is
// made in Handle. Of opts, the partition (eventstore.InPartition) counts;
// the whole stream is always loaded.
func (h *Handler[S, E]) Load(ctx context.Context, stream string, opts ...eventstore.ReadOption) (aggregate.State[S], error) {
	partition := backend.ResolveRead(opts...).Partition
	loadOpts := append([]aggregate.Option{aggregate.WithReadOptions(eventstore.InPartition(partition))}, h.cfg.load...)
	key := cacheKey{partition, stream}
	loaded, err := h.load(ctx, key, loadOpts)
	if err == nil {
		h.cache.put(key, loaded)
	}
	return loaded, err
}

// Peek returns the state of stream that the cache (WithStateCache) holds,
// without reading anything: the state as a command or Load last left it,
// which other writers may have moved past since. It is for a caller that
// can act on a state that may be behind, because what it does next is
// checked by an expected version. Of opts, the partition counts.
func (h *Handler[S, E]) Peek(stream string, opts ...eventstore.ReadOption) (aggregate.State[S], bool) {
	return h.cache.peek(cacheKey{backend.ResolveRead(opts...).Partition, stream})
}

// load loads the state of the stream of key: from its cached state when
// the cache has it (taking it out of the cache: the caller puts it back
// once it is known to be right), or by replaying the stream.
func (h *Handler[S, E]) load(ctx context.Context, key cacheKey, opts []aggregate.Option) (aggregate.State[S], error) {
	if from, ok := h.cache.take(key); ok {
		return aggregate.LoadFrom(ctx, h.store, h.events, key.stream, h.evolve, from, opts...)
	}
	return aggregate.Load(ctx, h.store, h.events, key.stream, h.evolve, h.initial, opts...)
}

// DeciderHandler handles the commands of a Decider.
type DeciderHandler[S, C, E any] struct {
	handler *Handler[S, E]
	decide  func(C, S) ([]E, error)
}

// NewDeciderHandler returns a handler for the commands of decider.
func NewDeciderHandler[S, C, E any](store eventstore.Store, decider emmett.Decider[S, C, E], events *emmett.Events[E], opts ...Option) *DeciderHandler[S, C, E] {
	return &DeciderHandler[S, C, E]{
		handler: NewHandler(store, events, decider.Evolve, decider.InitialState, opts...),
		decide:  decider.Decide,
	}
}

// Handle decides cmd against the current state of stream and appends the
// resulting events; see Handler.Handle.
func (d *DeciderHandler[S, C, E]) Handle(ctx context.Context, stream string, cmd C, opts ...eventstore.AppendOption) (Result[S, E], error) {
	return d.handler.handle(ctx, instrument.CommandType(cmd), stream, func(state S) ([]E, error) { return d.decide(cmd, state) }, opts)
}

// Load returns the current state of stream; see Handler.Load.
func (d *DeciderHandler[S, C, E]) Load(ctx context.Context, stream string, opts ...eventstore.ReadOption) (aggregate.State[S], error) {
	return d.handler.Load(ctx, stream, opts...)
}

// Peek returns the cached state of stream; see Handler.Peek.
func (d *DeciderHandler[S, C, E]) Peek(stream string, opts ...eventstore.ReadOption) (aggregate.State[S], bool) {
	return d.handler.Peek(stream, opts...)
}

// DefaultConflictRetry is the policy for retrying a command whose append
// lost a race to a concurrent writer: 5 attempts, waiting up to 5 ms, then
// 10, 20, 40.
func DefaultConflictRetry() emmett.RetryPolicy {
	return emmett.RetryPolicy{MaxAttempts: 5, InitialDelay: 5 * time.Millisecond, MaxDelay: 250 * time.Millisecond}
}

type config struct {
	retry     emmett.RetryPolicy
	load      []aggregate.Option
	telemetry telemetry.Config
	cacheSize int
}

// Option configures a handler.
type Option func(*config)

// WithRetry sets the retry policy for appends that lose a race;
// DefaultConflictRetry by default.
func WithRetry(p emmett.RetryPolicy) Option { return func(c *config) { c.retry = p } }

// NoRetry returns every conflict at once.
func NoRetry() Option { return func(c *config) { c.retry = emmett.RetryPolicy{MaxAttempts: 1} } }

// WithLoadOptions configures how the handler loads a stream's state, for
// example with aggregate.SkipUnknownEvents.
func WithLoadOptions(opts ...aggregate.Option) Option {
	return func(c *config) { c.load = append(c.load, opts...) }
}

// WithTelemetry sets where the handler's spans and measurements go; the
// global OpenTelemetry providers by default. See the package
// documentation for what is recorded.
func WithTelemetry(cfg telemetry.Config) Option { return func(c *config) { c.telemetry = cfg } }

// duplicate is the result of a command handled already under its
// idempotency key: the first handling's events, as stored.
func (h *Handler[S, E]) duplicate(state S, stored []emmett.RecordedEvent) (Result[S, E], error) {
	res := Result[S, E]{State: state, Duplicate: true, Events: make([]emmett.Recorded[E], len(stored))}
	for i, rec := range stored {
		var err error
		if res.Events[i], err = h.events.DecodeRecorded(rec); err != nil {
			return Result[S, E]{}, err
		}
	}
	last := stored[len(stored)-1]
	res.NextExpectedVersion, res.Created, res.Position = last.StreamPosition, stored[0].StreamPosition == 1, eventstore.PositionOf(last)
	return res, nil
}
