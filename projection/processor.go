package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/backoff"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/telemetry"
)

// Processor consumes a Source: a projector applies a Projection in the same
// transaction as its checkpoint; a reactor runs a side effect per event and
// checkpoints after it (at least once: use the event's MessageID to make the
// effect idempotent).
//
// Run it in a goroutine of its own; only one instance of a processor (by
// id) runs at a time against one store, the others wait in Run.
type Processor struct {
	id     string
	source Source
	store  CheckpointStore
	proj   Projection                                        // projector
	react  func(context.Context, emmett.RecordedEvent) error // reactor
	types  []string
	cfg    processorConfig
	tel    *instrument.Processor

	mu          sync.Mutex
	running     bool
	checkpoint  eventstore.Position
	lastCreated time.Time          // when the last event processed was stored
	advanced    chan struct{}      // closed and replaced whenever checkpoint moves
	restart     context.CancelFunc // cancels the current subscription
	rebuild     *rebuildRun        // a rebuild waiting for, or in, progress
}

// Progress reports how far a rebuild has got.
type Progress struct {
	// Done is the number of events replayed so far.
	Done int64
	// Total is the number of events to replay (the log as it was when the
	// rebuild started); -1 when the source cannot count.
	Total int64
}

// ProcessorError stops a processor: an event kept failing after the
// retries. Nothing after Event was applied.
type ProcessorError struct {
	// Processor is the id of the stopped processor.
	Processor string
	// Event is the failing event (zero when the failure was not about one
	// event, such as a failing checkpoint write).
	Event emmett.RecordedEvent
	// Err is the error of the last try: the projection's (often an
	// *Error), the reactor's, or the checkpoint store's.
	Err error
}

// Error implements error: it names the processor and, when there is one,
// the failing event's type, global position, stream and stream position,
// then the cause.
func (e *ProcessorError) Error() string {
	if e.Event.Type == "" {
		return fmt.Sprintf("processor %q stopped: %v", e.Processor, e.Err)
	}
	return fmt.Sprintf("processor %q stopped at event %q, position %s (stream %q position %d): %v",
		e.Processor, e.Event.Type, eventstore.PositionOf(e.Event), e.Event.StreamName, e.Event.StreamPosition, e.Err)
}

// Unwrap returns the cause.
func (e *ProcessorError) Unwrap() error { return e.Err }

// Position returns the global position of the failing event.
func (e *ProcessorError) Position() eventstore.Position { return eventstore.PositionOf(e.Event) }

type startKind uint8

const (
	startBeginning startKind = iota
	startEnd
	startAt
)

type processorConfig struct {
	id           string
	start        startKind
	startAt      eventstore.Position
	retry        emmett.RetryPolicy
	pollInterval time.Duration
	logger       *slog.Logger
	telemetry    telemetry.Config
}

// ProcessorOption configures a Processor.
type ProcessorOption func(*processorConfig)

// WithProcessorID names the processor (its checkpoint and lock); a
// projector is named after its projection by default.
func WithProcessorID(id string) ProcessorOption { return func(c *processorConfig) { c.id = id } }

// StartFromBeginning makes a processor without a stored checkpoint start at
// the beginning of the log (the default).
func StartFromBeginning() ProcessorOption {
	return func(c *processorConfig) { c.start = startBeginning }
}

// StartFromEnd makes a processor without a stored checkpoint start after
// the last event appended so far.
func StartFromEnd() ProcessorOption { return func(c *processorConfig) { c.start = startEnd } }

// StartAfter makes a processor without a stored checkpoint start after pos.
func StartAfter(pos eventstore.Position) ProcessorOption {
	return func(c *processorConfig) { c.start, c.startAt = startAt, pos }
}

// DefaultBatchRetry is how a processor retries a failing batch unless
// WithRetry says otherwise: 3 tries, waiting up to 100 ms, then 200 ms.
func DefaultBatchRetry() emmett.RetryPolicy {
	return emmett.RetryPolicy{MaxAttempts: 3, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second}
}

// WithRetry sets how many times a failing batch is tried (the first try
// included) and the backoff between tries, before the processor stops
// with the error; DefaultBatchRetry by default.
func WithRetry(p emmett.RetryPolicy) ProcessorOption {
	return func(c *processorConfig) { c.retry = p }
}

// WithLogger sets the logger; by default the processor logs warnings and
// errors through slog's default logger, and nothing below. Records logged
// while a batch is in progress carry the trace and span ids of its span
// (see telemetry.NewLogHandler).
func WithLogger(l *slog.Logger) ProcessorOption { return func(c *processorConfig) { c.logger = l } }

// WithTelemetry sets where the processor's spans and measurements go; the
// global OpenTelemetry providers by default.
//
// Each batch with events is an emmett.processor.batch span, the root of a
// trace of its own, linked to the span that appended each of its events
// (the trace context stored in their metadata): from an HTTP request's
// trace, the link leads to the projections it caused. Measurements are the
// duration of batches, the events processed, and the processor's lag
// (events and time behind the head of the source), observed when the
// application's metric reader collects. See the telemetry package for the
// names.
func WithTelemetry(cfg telemetry.Config) ProcessorOption {
	return func(c *processorConfig) { c.telemetry = cfg }
}

// WithWaitPollInterval sets how often WaitFor reads the stored checkpoint
// when the processor runs in another instance; 100 ms by default.
func WithWaitPollInterval(d time.Duration) ProcessorOption {
	return func(c *processorConfig) { c.pollInterval = d }
}

func newConfig(id string, opts []ProcessorOption) processorConfig {
	cfg := processorConfig{id: id, retry: DefaultBatchRetry(), pollInterval: 100 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.logger = instrument.Logger(cfg.logger)
	cfg.retry.MaxAttempts = max(cfg.retry.MaxAttempts, 1)
	return cfg
}

// NewProjectionProcessor returns a processor (a projector) applying p to
// the events of source, its checkpoint kept by checkpoints (a store's
// Processors()) in the transaction of p's changes.
func NewProjectionProcessor(checkpoints CheckpointStore, source Source, p Projection, opts ...ProcessorOption) *Processor {
	cfg := newConfig(p.Name(), opts)
	return &Processor{id: cfg.id, source: source, store: checkpoints, proj: p, types: p.EventTypes(), cfg: cfg, advanced: make(chan struct{}),
		tel: instrument.NewProcessor(cfg.telemetry, scope, cfg.id)}
}

// NewReactorProcessor returns a processor (a reactor) running handle for
// each event of the given types (nil for all) from source, its checkpoint
// kept by checkpoints (a store's Processors()) after the handler's side
// effects: at least once.
func NewReactorProcessor(checkpoints CheckpointStore, source Source, id string, types []string, handle func(context.Context, emmett.RecordedEvent) error, opts ...ProcessorOption) *Processor {
	cfg := newConfig(id, opts)
	return &Processor{id: cfg.id, source: source, store: checkpoints, react: handle, types: types, cfg: cfg, advanced: make(chan struct{}),
		tel: instrument.NewProcessor(cfg.telemetry, scope, cfg.id)}
}

// scope is the instrumentation scope of the processors' telemetry.
const scope = "github.com/emmett-go/emmett/projection"

// ID returns the processor's id.
func (p *Processor) ID() string { return p.id }

// Checkpoint returns the position this instance has processed up to, and
// whether it is running.
func (p *Processor) Checkpoint() (eventstore.Position, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkpoint, p.running
}

var errRestart = errors.New("projection: processor restarting")

// Run processes events until ctx ends (it then returns nil) or a failure
// stops it (a *ProcessorError, or the store's or the source's error). It
// first waits for the processor's lock.
//
// Run outlives the store's outages: when the processor's lock is lost
// (ErrLockLost: its session ended with a server restart or a dropped
// connection), the store could not be reached (an error matching
// eventstore.ErrUnavailable) or a commit's outcome is unknown
// (eventstore.ErrOutcomeUnknown), it logs a warning, waits (with backoff, from
// 100 ms up to 5 s) and starts again: it takes the lock anew, possibly
// after another instance that took it meanwhile, and resumes from the
// stored checkpoint. Nothing is applied twice: the checkpoint moves in the
// transaction of the read model's changes.
func (p *Processor) Run(ctx context.Context) error {
	restarts := 0
	for {
		started := time.Now()
		err := p.run(ctx, eventstore.Position{}, false)
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return nil
		}
		if !restartable(err) {
			return err
		}
		if time.Since(started) > time.Minute {
			restarts = 0 // it ran fine for a while: this is a new outage
		}
		restarts++
		p.cfg.logger.WarnContext(ctx, "processor interrupted, starting again", "processor", p.id, "restart", restarts, "error", err)
		if err := backoff.Wait(ctx, restarts, restartInitialDelay, restartMaxDelay); err != nil {
			return nil
		}
	}
}

// restartable reports whether err ends a run that Run starts again: the
// lock was lost, the store could not be reached, or a commit's outcome is
// unknown (the stored checkpoint, read again under the lock, says).
func restartable(err error) bool {
	return errors.Is(err, ErrLockLost) || errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, eventstore.ErrOutcomeUnknown)
}

// The bounds of the pauses before a processor starts again after an
// outage of its store.
const (
	restartInitialDelay = 100 * time.Millisecond
	restartMaxDelay     = 5 * time.Second
)

// run is Run, ending early once the checkpoint reaches stopAt when stop is
// set.
func (p *Processor) run(ctx context.Context, stopAt eventstore.Position, stop bool) error {
	lock, err := p.store.Lock(ctx, p.id)
	if err != nil {
		return err
	}
	defer func() {
		if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
			p.cfg.logger.WarnContext(ctx, "releasing processor lock", "processor", p.id, "error", err)
		}
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lock.Lost():
			cancel(ErrLockLost)
		case <-ctx.Done():
		}
	}()

	cp, found, err := p.store.ReadCheckpoint(ctx, p.id)
	if err != nil {
		return err
	}
	if !found {
		switch p.cfg.start {
		case startEnd:
			if cp, err = p.source.Head(ctx); err != nil {
				return err
			}
		case startAt:
			cp = p.cfg.startAt
		}
		// Store the starting point, so that a restart resumes from it and
		// not from the beginning.
		if !cp.IsZero() {
			if err := p.store.Commit(ctx, p.id, eventstore.Position{}, cp, nil); err != nil {
				return err
			}
		}
	}
	p.mu.Lock()
	p.running = true
	p.checkpoint = cp
	p.mu.Unlock()
	defer p.tel.ObserveLag(p.lag)()
	defer func() {
		p.mu.Lock()
		p.running = false
		// Wake the waiters: with this instance stopped, they follow the
		// stored checkpoint (another instance may move it).
		close(p.advanced)
		p.advanced = make(chan struct{})
		if p.rebuild != nil {
			p.rebuild.finish(errors.New("projection: processor stopped during rebuild"))
			p.rebuild = nil
		}
		p.mu.Unlock()
	}()

	for {
		subCtx, restart := context.WithCancelCause(ctx)
		p.mu.Lock()
		p.restart = func() { restart(errRestart) }
		rb := p.rebuild
		p.mu.Unlock()
		if rb != nil && !rb.started {
			if cp, err = p.reset(ctx, cp, rb); err != nil {
				restart(nil)
				return err
			}
		}
		if stop && cp.Compare(stopAt) >= 0 {
			restart(nil)
			return nil
		}
		err := p.source.Subscribe(subCtx, cp, func(ctx context.Context, b Batch) error {
			next, err := p.apply(ctx, cp, b)
			if err != nil {
				return err
			}
			cp = next
			if stop && cp.Compare(stopAt) >= 0 {
				restart(nil)
			}
			return nil
		})
		cause := context.Cause(subCtx)
		restart(nil)
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case errors.Is(cause, errRestart):
			// A batch cut short may still have committed: the stored
			// checkpoint, under our lock, is the truth.
			stored, found, err := p.store.ReadCheckpoint(ctx, p.id)
			if err != nil {
				return err
			}
			if found {
				cp = stored
			}
			continue
		case stop && cp.Compare(stopAt) >= 0:
			return nil
		case err == nil:
			return errors.New("projection: source ended")
		default:
			return err
		}
	}
}

// apply processes one batch and moves the checkpoint from cp to b.End, in
// an emmett.processor.batch span when the batch has events.
func (p *Processor) apply(ctx context.Context, cp eventstore.Position, b Batch) (eventstore.Position, error) {
	if len(b.Events) == 0 {
		return p.applyBatch(ctx, cp, b, nil)
	}
	ctx, op := p.tel.StartBatch(ctx, cp, b.End, b.Events)
	next, err := p.applyBatch(ctx, cp, b, &op)
	op.End(err)
	return next, err
}

func (p *Processor) applyBatch(ctx context.Context, cp eventstore.Position, b Batch, op *instrument.Batch) (eventstore.Position, error) {
	events := b.Events
	if p.types != nil {
		events = make([]emmett.RecordedEvent, 0, len(b.Events))
		for _, e := range b.Events {
			if slices.Contains(p.types, e.Type) {
				events = append(events, e)
			}
		}
	}
	var err error
	for attempt := 1; attempt <= p.cfg.retry.MaxAttempts; attempt++ {
		if attempt > 1 {
			if op != nil {
				op.Retry(err)
			}
			p.cfg.logger.WarnContext(ctx, "retrying batch", "processor", p.id, "attempt", attempt, "error", err)
			if werr := p.cfg.retry.Wait(ctx, attempt-1); werr != nil {
				return cp, werr
			}
		}
		if err = p.commit(ctx, cp, b.End, events); err == nil {
			break
		}
		if errors.Is(err, ErrCheckpointMoved) || restartable(err) || ctx.Err() != nil {
			// Not the handler's fault: Run decides what comes next.
			return cp, err
		}
	}
	if err != nil {
		perr := &ProcessorError{Processor: p.id, Err: err}
		var pe *Error
		var re *reactionError
		switch {
		case errors.As(err, &re):
			perr.Event, perr.Err = re.event, re.err
		case errors.As(err, &pe) && pe.Event.Type != "":
			perr.Event = pe.Event
		case len(events) > 0:
			perr.Event = p.findFailing(ctx, events)
		}
		p.cfg.logger.ErrorContext(ctx, "processor stopped", "processor", p.id, "error", perr)
		return cp, perr
	}
	p.mu.Lock()
	p.checkpoint = b.End
	if len(b.Events) > 0 {
		p.lastCreated = b.Events[len(b.Events)-1].Created
	}
	close(p.advanced)
	p.advanced = make(chan struct{})
	if rb := p.rebuild; rb != nil && rb.started {
		rb.done += int64(len(b.Events))
		rb.report(Progress{Done: rb.done, Total: rb.total})
		if b.End.Compare(rb.target) >= 0 {
			rb.finish(nil)
			p.rebuild = nil
		}
	}
	p.mu.Unlock()
	return b.End, nil
}

type reactionError struct {
	event emmett.RecordedEvent
	err   error
}

func (e *reactionError) Error() string { return e.err.Error() }
func (e *reactionError) Unwrap() error { return e.err }

func (p *Processor) commit(ctx context.Context, from, to eventstore.Position, events []emmett.RecordedEvent) error {
	if p.react != nil {
		for _, e := range events {
			if err := p.react(ctx, e); err != nil {
				return &reactionError{event: e, err: err}
			}
		}
		return p.store.Commit(ctx, p.id, from, to, nil)
	}
	if len(events) == 0 {
		return p.store.Commit(ctx, p.id, from, to, nil)
	}
	return p.store.Commit(ctx, p.id, from, to, func(ctx context.Context, tx Tx) error {
		return p.proj.Handle(ctx, tx, events)
	})
}

var errDiagnosed = errors.New("projection: diagnosis done")

// findFailing replays a failed batch one event at a time in a transaction
// that is always rolled back, to tell which event fails.
func (p *Processor) findFailing(ctx context.Context, events []emmett.RecordedEvent) emmett.RecordedEvent {
	failing := events[0]
	cp, _ := p.Checkpoint()
	_ = p.store.Commit(ctx, p.id, cp, cp, func(ctx context.Context, tx Tx) error {
		for _, e := range events {
			if err := p.proj.Handle(ctx, tx, []emmett.RecordedEvent{e}); err != nil {
				failing = e
				break
			}
		}
		return errDiagnosed
	})
	return failing
}

// WaitFor blocks until the processor has processed the event at pos (as an
// append returned it), or ctx ends. It works whichever instance runs the
// processor: when it is not running here, it reads the stored checkpoint.
func (p *Processor) WaitFor(ctx context.Context, pos eventstore.Position) error {
	target, err := p.source.Target(ctx, pos)
	if err != nil {
		return err
	}
	wasRunning := false
	for {
		p.mu.Lock()
		cp, running, advanced := p.checkpoint, p.running, p.advanced
		p.mu.Unlock()
		if wasRunning && !running {
			// This instance stopped: another may take over. Ask the source
			// again, for a target that instance is told to reach (a
			// source's target can depend on which instance follows it).
			if target, err = p.source.Target(ctx, pos); err != nil {
				return err
			}
		}
		wasRunning = running
		var wait <-chan time.Time
		if !running {
			stored, _, err := p.store.ReadCheckpoint(ctx, p.id)
			if err != nil {
				return err
			}
			cp = stored
			wait = time.After(p.cfg.pollInterval)
		}
		if cp.Compare(target) >= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-advanced:
		case <-wait:
		}
	}
}

// rebuildRun is a rebuild in progress.
type rebuildRun struct {
	progress func(Progress)
	target   eventstore.Position
	total    int64
	done     int64
	started  bool
	result   chan error
}

func (r *rebuildRun) report(pr Progress) {
	if r.progress != nil {
		r.progress(pr)
	}
}

func (r *rebuildRun) finish(err error) {
	select {
	case r.result <- err:
	default:
	}
}

// reset deletes the projection's read model and moves the checkpoint back
// to the start, in one transaction.
func (p *Processor) reset(ctx context.Context, cp eventstore.Position, rb *rebuildRun) (eventstore.Position, error) {
	var reset func(context.Context, Tx) error
	if p.proj != nil {
		reset = p.proj.Reset
	}
	if err := p.store.Commit(ctx, p.id, cp, eventstore.Position{}, reset); err != nil {
		return cp, err
	}
	p.mu.Lock()
	rb.started = true
	p.checkpoint = eventstore.Position{}
	rb.report(Progress{Total: rb.total})
	if rb.target.IsZero() {
		rb.finish(nil)
		p.rebuild = nil
	}
	p.mu.Unlock()
	return eventstore.Position{}, nil
}

// Rebuild deletes the projection's read model and replays the log into it
// from the beginning, up to the end of the log as it is when Rebuild is
// called, reporting progress along the way. Appends may go on meanwhile:
// the processor goes on past them afterwards as usual.
//
// If this instance is running the processor, Rebuild has it restart from
// scratch; otherwise it takes the processor's lock, rebuilds, and releases
// it once caught up. While another instance (another process) runs the
// processor, Rebuild waits for the lock until that instance stops or ctx
// ends: call it in the instance that runs the processor, or stop the
// others first.
func (p *Processor) Rebuild(ctx context.Context, progress func(Progress)) error {
	target, err := p.source.Head(ctx)
	if err != nil {
		return err
	}
	total := int64(-1)
	if c, ok := p.source.(Counter); ok {
		if total, err = c.Count(ctx, eventstore.Position{}, target); err != nil {
			return err
		}
	}
	rb := &rebuildRun{progress: progress, target: target, total: total, result: make(chan error, 1)}

	p.mu.Lock()
	if p.rebuild != nil {
		p.mu.Unlock()
		return errors.New("projection: a rebuild is already running")
	}
	p.rebuild = rb
	running, restart := p.running, p.restart
	p.mu.Unlock()

	if running && restart != nil {
		restart()
		select {
		case err := <-rb.result:
			return err
		case <-ctx.Done():
			p.mu.Lock()
			if p.rebuild == rb {
				p.rebuild = nil
			}
			p.mu.Unlock()
			return ctx.Err()
		}
	}
	err = p.run(ctx, target, true)
	p.mu.Lock()
	if p.rebuild == rb {
		p.rebuild = nil
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-rb.result:
		return err
	default:
		return nil
	}
}

// lag reports how far the processor is behind its source, for the lag
// gauges: the difference of global positions between the source's head and
// the checkpoint, and the age of the last event processed (0 once caught
// up, unknown before the first batch).
func (p *Processor) lag(ctx context.Context) (instrument.Lag, error) {
	head, err := p.source.Head(ctx)
	if err != nil {
		return instrument.Lag{}, err
	}
	p.mu.Lock()
	cp, last := p.checkpoint, p.lastCreated
	p.mu.Unlock()
	if cp.Compare(head) >= 0 {
		return instrument.Lag{}, nil
	}
	l := instrument.Lag{Events: max(head.GlobalPosition-cp.GlobalPosition, 1), Time: -1}
	if !last.IsZero() {
		l.Time = max(time.Since(last), 0)
	}
	return l, nil
}
