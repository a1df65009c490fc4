package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// FailurePolicy is what a processor does with an event its handler keeps
// failing on, once the retry policy (WithRetry) is exhausted. Set it with
// WithFailurePolicy.
type FailurePolicy uint8

const (
	// StopOnFailure stops the processor at the event: Run returns a
	// *ProcessorError naming it, and nothing from it on is applied. The
	// default: someone must step in.
	StopOnFailure FailurePolicy = iota
	// SkipOnFailure logs the event and the error, counts it
	// (telemetry.MetricProcessorEventsSkipped) and goes on without it: the
	// checkpoint moves past it with the rest of its batch.
	SkipOnFailure
	// ParkOnFailure sets the event aside and goes on: it is recorded, with
	// the processor's id, the error, the number of attempts and the times
	// of the first and last failures, beside the checkpoints (a table in
	// the store's database, emt_parked_messages; memory in the in-memory
	// store), in the transaction that moves the checkpoint past it, so
	// that both are stored or neither. It is logged and counted
	// (telemetry.MetricProcessorEventsParked). Parked events are listed,
	// retried and discarded with the Processor's Parked, RetryParked and
	// DiscardParked, the CheckpointStore's methods, or the command-line
	// tool (emmett parked).
	ParkOnFailure
)

// String returns "stop", "skip" or "park".
func (f FailurePolicy) String() string {
	switch f {
	case StopOnFailure:
		return "stop"
	case SkipOnFailure:
		return "skip"
	case ParkOnFailure:
		return "park"
	}
	return fmt.Sprintf("FailurePolicy(%d)", uint8(f))
}

// WithFailurePolicy sets what the processor does with an event its handler
// keeps failing on once the retry policy is exhausted: StopOnFailure (the
// default), SkipOnFailure or ParkOnFailure.
//
// A failure is pinned on one event when the reactor fails on it, when the
// projection's error is an *Error naming it, or when the events of the
// batch, applied one at a time in a transaction that is rolled back, fail
// at it. The rest of the batch is then tried again (with the retry policy
// again) without it. A failure pinned on no event (the store's own) stops
// the processor whatever the policy.
//
// Whatever the policy, a reactor trying a batch again does not run its
// side effect again for the events of the batch it already handled.
func WithFailurePolicy(f FailurePolicy) ProcessorOption {
	return func(c *processorConfig) { c.failure = f }
}

// WithWatchInterval sets how often a running processor looks at what
// other instances may have asked of it: retries of its parked events
// (another instance's RetryParked, the command-line tool's emmett parked
// -retry), and, for a projector, the record of its projection's version
// (a building version that has caught up becomes active; an active one
// that another version replaced stops, and an idle one made active again
// starts); 1 s by default. A retry asked for in the instance that runs the
// processor is carried out at once.
func WithWatchInterval(d time.Duration) ProcessorOption {
	return func(c *processorConfig) { c.parkedPoll = d }
}

// ParkedEvent is an event a processor parked (see ParkOnFailure).
type ParkedEvent struct {
	// ID identifies the parked event in its store (unique across
	// processors); the store gives it.
	ID int64
	// Processor is the id of the processor that parked it.
	Processor string
	// Event is the event as the processor got it, its MessageID included:
	// a retry delivers it again as it is, so that a reactor can tell it
	// handled it already.
	Event emmett.RecordedEvent
	// Error is the text of the last failure's error.
	Error string
	// Attempts is the number of tries that failed on it, retries included.
	Attempts int
	// FirstFailure and LastFailure are when the first and the last of
	// them failed.
	FirstFailure, LastFailure time.Time
	// RetryRequested is whether a retry was asked for and not carried out
	// yet.
	RetryRequested bool
}

// ParkedFilter selects parked events; its zero value selects them all.
type ParkedFilter struct {
	// Processor selects a processor's parked events; "" every processor's.
	Processor string
	// ID selects one parked event; 0 any.
	ID int64
	// RetryRequested selects those waiting for a retry.
	RetryRequested bool
	// Limit is the most events returned; 0 for no limit.
	Limit int
}

// ErrParkedNotFound is the error of an operation on a parked event that
// is not (or no longer) there.
var ErrParkedNotFound = errors.New("projection: no such parked event")

// ErrRetryFailed is matched by the error of a retry of a parked event
// whose handler failed again: the event stays parked.
var ErrRetryFailed = errors.New("projection: the retry of a parked event failed")

// ParkedEvents keeps the events that processors parked, beside their
// checkpoints: every CheckpointStore does.
type ParkedEvents interface {
	// Park records e (but for its ID, which the store gives) in tx, the
	// transaction of a Commit: the one that moves the processor's
	// checkpoint past the event, so that both are stored or neither. An
	// event the processor parked already (by MessageID) is recorded
	// again: its attempts add up, its error and last failure are the new
	// ones, and a retry asked for is cleared.
	Park(ctx context.Context, tx Tx, e ParkedEvent) error
	// Unpark removes, in tx (the transaction of a Commit), the processor's
	// parked event id (the retry that applies it removes it in its
	// transaction; ErrParkedNotFound when it is not there), or all of the
	// processor's parked events when id is 0 (a rebuild starts over).
	Unpark(ctx context.Context, tx Tx, processorID string, id int64) error
	// Parked returns the parked events f selects, by ID.
	Parked(ctx context.Context, f ParkedFilter) ([]ParkedEvent, error)
	// RequestRetry asks for a retry of the processor's parked event id
	// (processorID "" for any processor's), or of all the processor's
	// when id is 0 (every processor's when processorID is "" too), and
	// returns how many it asked for. The instance that runs the processor
	// carries it out (see WithWatchInterval).
	RequestRetry(ctx context.Context, processorID string, id int64) (int64, error)
	// RetryFailed records that a retry of the processor's parked event id
	// failed at at with the error errText: one attempt more, its last
	// failure and error replaced, its retry request cleared.
	// ErrParkedNotFound when it is not there.
	RetryFailed(ctx context.Context, processorID string, id int64, errText string, at time.Time) error
	// Discard removes the processor's parked event id (processorID "" for
	// any processor's) without retrying it. ErrParkedNotFound when it is
	// not there.
	Discard(ctx context.Context, processorID string, id int64) error
}

// Parked returns the processor's parked events (see ParkOnFailure), by
// ID.
func (p *Processor) Parked(ctx context.Context) ([]ParkedEvent, error) {
	return p.store.Parked(ctx, ParkedFilter{Processor: p.id})
}

// DiscardParked removes the processor's parked event id without retrying
// it; ErrParkedNotFound when it is not there.
func (p *Processor) DiscardParked(ctx context.Context, id int64) error {
	return p.store.Discard(ctx, p.id, id)
}

// RetryParked delivers the processor's parked event id to its handler
// again and, once the handler succeeds, removes it from the parked events
// (a projector's changes and the removal commit in one transaction, so
// the event is applied once). If the handler fails again, the event stays
// parked with one attempt more and the new error, and RetryParked returns
// an error matching ErrRetryFailed.
//
// The instance that runs the processor carries the retry out, between two
// batches: this one, at once, or another one, within its
// WithWatchInterval. RetryParked asks for it (the request is stored)
// and waits for the outcome; if no instance runs the processor, it waits
// until ctx ends, and the processor carries the request out when it next
// runs.
func (p *Processor) RetryParked(ctx context.Context, id int64) error {
	if id <= 0 {
		return fmt.Errorf("projection: processor %q: no parked event %d: %w", p.id, id, ErrParkedNotFound)
	}
	n, err := p.store.RequestRetry(ctx, p.id, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("projection: processor %q: no parked event %d: %w", p.id, id, ErrParkedNotFound)
	}
	return p.awaitRetries(ctx, []int64{id})
}

// RetryAllParked is RetryParked for every parked event of the processor,
// in the order they were parked. It returns the errors of those that
// failed again, joined.
func (p *Processor) RetryAllParked(ctx context.Context) error {
	parked, err := p.Parked(ctx)
	if err != nil || len(parked) == 0 {
		return err
	}
	if _, err := p.store.RequestRetry(ctx, p.id, 0); err != nil {
		return err
	}
	ids := make([]int64, len(parked))
	for i, e := range parked {
		ids[i] = e.ID
	}
	return p.awaitRetries(ctx, ids)
}

// awaitRetries waits until the retries of the parked events ids are
// carried out, and returns the errors of those that failed again.
func (p *Processor) awaitRetries(ctx context.Context, ids []int64) error {
	p.nudge()
	for {
		p.mu.Lock()
		retried, running := p.retried, p.running
		p.mu.Unlock()
		parked, err := p.store.Parked(ctx, ParkedFilter{Processor: p.id})
		if err != nil {
			return err
		}
		var failed []error
		pending := false
		for _, e := range parked {
			if !slices.Contains(ids, e.ID) {
				continue
			}
			if e.RetryRequested {
				pending = true
				break
			}
			failed = append(failed, fmt.Errorf("projection: processor %q: parked event %d (%s at position %s) failed again: %s: %w",
				p.id, e.ID, e.Event.Type, eventstore.PositionOf(e.Event), e.Error, ErrRetryFailed))
		}
		if !pending {
			return errors.Join(failed...)
		}
		// This instance tells when a pass of retries is over (or it
		// stops); otherwise the stored requests do.
		var poll <-chan time.Time
		var t *time.Timer
		if !running {
			t = time.NewTimer(p.cfg.pollInterval)
			poll = t.C
		}
		select {
		case <-ctx.Done():
		case <-retried:
		case <-poll:
		}
		if t != nil {
			t.Stop()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// nudge has the processor, if it runs in this instance, carry out the
// retries asked for now, between two batches.
func (p *Processor) nudge() {
	p.mu.Lock()
	restart := p.restart
	running := p.running
	p.mu.Unlock()
	if running && restart != nil {
		restart()
	}
}

// watch looks for retries asked for elsewhere every
// WithWatchInterval, until ctx ends, and has the processor carry
// them out. For a projector, it also looks at the record of its version:
// a building version switches once caught up; an active one that another
// version replaced ends the run (cancel) with ErrVersionRetired.
func (p *Processor) watch(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(p.cfg.parkedPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.proj != nil {
			err := p.checkVersion(ctx)
			if errors.Is(err, ErrVersionRetired) {
				cancel(ErrVersionRetired)
				return
			}
			if err != nil && ctx.Err() == nil {
				p.cfg.logger.WarnContext(ctx, "looking at the projection's version", "processor", p.id, "error", err)
			}
		}
		asked, err := p.store.Parked(ctx, ParkedFilter{Processor: p.id, RetryRequested: true, Limit: 1})
		if err != nil {
			if ctx.Err() == nil {
				p.cfg.logger.WarnContext(ctx, "looking for retries of parked events", "processor", p.id, "error", err)
			}
			continue
		}
		if len(asked) > 0 {
			p.nudge()
		}
	}
}

// retryParked carries out the retries asked for of the processor's parked
// events, with the checkpoint at cp. A handler's failure is recorded with
// the event; the error returned is the store's.
func (p *Processor) retryParked(ctx context.Context, cp eventstore.Position) error {
	asked, err := p.store.Parked(ctx, ParkedFilter{Processor: p.id, RetryRequested: true})
	if err != nil || len(asked) == 0 {
		return err
	}
	defer func() {
		p.mu.Lock()
		close(p.retried)
		p.retried = make(chan struct{})
		p.mu.Unlock()
	}()
	for _, e := range asked {
		if err := p.retryOne(ctx, cp, e); err != nil {
			return err
		}
	}
	return nil
}

// retryOne delivers the parked event e again, in an emmett.processor.retry
// span, and removes it once handled, or records the failure.
func (p *Processor) retryOne(ctx context.Context, cp eventstore.Position, e ParkedEvent) error {
	ctx, op := p.tel.StartRetry(ctx, e.ID, e.Event)
	var handlerErr error
	unpark := func(ctx context.Context, tx Tx) error { return p.store.Unpark(ctx, tx, p.id, e.ID) }
	var err error
	if p.react != nil {
		if handlerErr = p.react(ctx, e.Event); handlerErr == nil {
			err = p.store.Commit(ctx, p.id, cp, cp, unpark)
		}
	} else {
		err = p.store.Commit(ctx, p.id, cp, cp, func(ctx context.Context, tx Tx) error {
			if p.types == nil || slices.Contains(p.types, e.Event.Type) {
				if herr := p.proj.Handle(ctx, tx, []emmett.RecordedEvent{e.Event}); herr != nil {
					handlerErr = herr
					return herr
				}
			}
			return unpark(ctx, tx)
		})
	}
	if cerr := ctx.Err(); cerr != nil {
		op.Abort(cerr)
		return cerr
	}
	attrs := []any{"processor", p.id, "parked_id", e.ID, "event_type", e.Event.Type,
		"position", eventstore.PositionOf(e.Event).String(), "stream", e.Event.StreamName, "message_id", e.Event.MessageID}
	switch {
	case handlerErr != nil:
		op.End(handlerErr)
		p.cfg.logger.WarnContext(ctx, "retry of a parked event failed: it stays parked", append(attrs, "attempts", e.Attempts+1, "error", handlerErr)...)
		if err := p.store.RetryFailed(ctx, p.id, e.ID, handlerErr.Error(), time.Now()); err != nil && !errors.Is(err, ErrParkedNotFound) {
			return err
		}
		return nil
	case errors.Is(err, ErrParkedNotFound):
		// Discarded meanwhile: the retry's changes were rolled back.
		op.Abort(err)
		return nil
	case err != nil:
		op.Abort(err)
		return err
	}
	op.End(nil)
	p.cfg.logger.InfoContext(ctx, "parked event retried and applied", attrs...)
	return nil
}

// failure is an event of a batch that the failure policy set aside.
type failure struct {
	event       emmett.RecordedEvent
	err         error
	attempts    int
	first, last time.Time
}

// parked is the record of f.
func (f failure) parked(processorID string) ParkedEvent {
	return ParkedEvent{Processor: processorID, Event: f.event, Error: f.err.Error(), Attempts: f.attempts,
		FirstFailure: f.first, LastFailure: f.last}
}

// without returns events without e (a copy: events may be the source's).
func without(events []emmett.RecordedEvent, e emmett.RecordedEvent) []emmett.RecordedEvent {
	i := indexOf(events, e)
	if i < 0 {
		return events
	}
	return slices.Concat(events[:i], events[i+1:])
}

// indexOf returns the index of e in events, or -1.
func indexOf(events []emmett.RecordedEvent, e emmett.RecordedEvent) int {
	return slices.IndexFunc(events, func(x emmett.RecordedEvent) bool {
		return x.GlobalPosition == e.GlobalPosition && x.TransactionID == e.TransactionID && x.MessageID == e.MessageID
	})
}

// WithParkedPollInterval is WithWatchInterval.
//
// Deprecated: the interval is that of everything a processor watches for;
// use WithWatchInterval.
func WithParkedPollInterval(d time.Duration) ProcessorOption { return WithWatchInterval(d) }
