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
	ver    versioning // a projector's version

	mu          sync.Mutex
	running     bool
	checkpoint  eventstore.Position
	lastCreated time.Time          // when the last event processed was stored
	advanced    chan struct{}      // closed and replaced whenever checkpoint moves
	restart     context.CancelFunc // cancels the current subscription
	rebuild     *rebuildRun        // a rebuild waiting for, or in, progress
	retried     chan struct{}      // closed and replaced after each pass of retries of parked events
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
	startTime
)

type processorConfig struct {
	id           string
	start        startKind
	startAt      eventstore.Position
	startTime    time.Time
	retry        emmett.RetryPolicy
	failure      FailurePolicy
	pollInterval time.Duration
	parkedPoll   time.Duration
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

// StartFromTime makes a processor without a stored checkpoint start at the
// first event, in its source's order, stored at t or later (and go on with
// every event after it); after the last event when none was. Its source
// must be a TimeSeeker, as the stores' polling feeds and PostgreSQL's
// logical replication feed are. The starting point is found once, and
// stored as the processor's checkpoint.
func StartFromTime(t time.Time) ProcessorOption {
	return func(c *processorConfig) { c.start, c.startTime = startTime, t }
}

// DefaultBatchRetry is how a processor retries a failing batch unless
// WithRetry says otherwise: 3 tries, waiting up to 100 ms, then 200 ms.
func DefaultBatchRetry() emmett.RetryPolicy {
	return emmett.RetryPolicy{MaxAttempts: 3, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second}
}

// WithRetry sets how many times a failing batch is tried (the first try
// included) and the backoff between tries, before the processor stops
// with the error (or sets the event aside, see WithFailurePolicy);
// DefaultBatchRetry by default.
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
	cfg := processorConfig{id: id, retry: DefaultBatchRetry(), pollInterval: 100 * time.Millisecond, parkedPoll: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.logger = instrument.Logger(cfg.logger)
	cfg.retry.MaxAttempts = max(cfg.retry.MaxAttempts, 1)
	if cfg.parkedPoll <= 0 {
		cfg.parkedPoll = time.Second
	}
	return cfg
}

// NewProjectionProcessor returns a processor (a projector) applying p to
// the events of source, its checkpoint kept by checkpoints (a store's
// Processors()) in the transaction of p's changes. Its id is p's name (or
// WithProcessorID's) for version 1 of p, and VersionedName of it for a
// later version, so that each version has a checkpoint of its own.
func NewProjectionProcessor(checkpoints CheckpointStore, source Source, p Projection, opts ...ProcessorOption) *Processor {
	v := VersionOf(p)
	cfg := newConfig(p.Name(), opts)
	base := cfg.id
	cfg.id = VersionedName(base, v)
	return &Processor{id: cfg.id, source: source, store: checkpoints, proj: p, types: p.EventTypes(), cfg: cfg,
		advanced: make(chan struct{}), retried: make(chan struct{}), tel: instrument.NewProcessor(cfg.telemetry, scope, cfg.id),
		ver: versioning{version: v, baseID: base}}
}

// NewReactorProcessor returns a processor (a reactor) running handle for
// each event of the given types (nil for all) from source, its checkpoint
// kept by checkpoints (a store's Processors()) after the handler's side
// effects: at least once.
func NewReactorProcessor(checkpoints CheckpointStore, source Source, id string, types []string, handle func(context.Context, emmett.RecordedEvent) error, opts ...ProcessorOption) *Processor {
	cfg := newConfig(id, opts)
	return &Processor{id: cfg.id, source: source, store: checkpoints, react: handle, types: types, cfg: cfg,
		advanced: make(chan struct{}), retried: make(chan struct{}), tel: instrument.NewProcessor(cfg.telemetry, scope, cfg.id)}
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
//
// Between two batches, Run also carries out the retries of parked events
// asked for (see RetryParked).
func (p *Processor) Run(ctx context.Context) error {
	err := p.runRestarting(ctx, eventstore.Position{}, false)
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil
	}
	return err
}

// RunUntil runs the processor as Run does until it has processed the event
// at pos (a position an append returned, or one of the source's, such as
// its Head), then returns nil. It returns early with what stops Run (a
// *ProcessorError, the store's or the source's error), or with ctx's
// error if ctx ends first. It outlives the store's outages as Run does.
//
// Like Run, it first waits for the processor's lock, and releases it when
// it returns: a bounded run is for batch jobs, tests and tools (emmett
// catch-up), while no other instance runs the processor. Where one does,
// WaitFor waits for it instead. Calling RunUntil while Run runs in this
// instance is an error.
func (p *Processor) RunUntil(ctx context.Context, pos eventstore.Position) error {
	if _, running := p.Checkpoint(); running {
		return fmt.Errorf("projection: processor %q runs already in this instance: WaitFor waits for it", p.id)
	}
	target, err := p.source.Target(ctx, pos)
	if err != nil {
		return err
	}
	return p.runRestarting(ctx, target, true)
}

// CatchUp runs the processor, as RunUntil does, until it has processed
// every event appended before CatchUp was called: up to the head of its
// source as it was then. Events appended meanwhile may be processed too,
// in the last batches.
func (p *Processor) CatchUp(ctx context.Context) error {
	if _, running := p.Checkpoint(); running {
		return fmt.Errorf("projection: processor %q runs already in this instance: WaitFor waits for it", p.id)
	}
	head, err := p.source.Head(ctx)
	if err != nil {
		return err
	}
	return p.runRestarting(ctx, head, true)
}

// runRestarting is run, started again after the store's outages (see Run).
// It returns run's error when ctx ends.
func (p *Processor) runRestarting(ctx context.Context, stopAt eventstore.Position, stop bool) error {
	restarts := 0
	for {
		started := time.Now()
		err := p.run(ctx, stopAt, stop)
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return err
		}
		if errors.Is(err, ErrVersionRetired) {
			if stop {
				return retiredError(p.id)
			}
			if err := p.idle(ctx); err != nil {
				return err
			}
			continue
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
			return ctx.Err()
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
		case startTime:
			seeker, ok := p.source.(TimeSeeker)
			if !ok {
				return fmt.Errorf("projection: processor %q: its source (%T) cannot start from a time: it is not a projection.TimeSeeker", p.id, p.source)
			}
			if cp, err = seeker.PositionAt(ctx, p.cfg.startTime); err != nil {
				return err
			}
		}
		// Store the starting point, so that a restart resumes from it and
		// not from the beginning.
		if !cp.IsZero() {
			if err := p.store.Commit(ctx, p.id, eventstore.Position{}, cp, nil); err != nil {
				return err
			}
		}
	}
	if p.proj != nil {
		if err := p.register(ctx, cp); err != nil {
			return err
		}
		if p.role() == roleRetired {
			return ErrVersionRetired
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
		p.ver.role = roleUnknown
		// Wake the waiters: with this instance stopped, they follow the
		// stored checkpoint (another instance may move it).
		close(p.advanced)
		p.advanced = make(chan struct{})
		close(p.retried)
		p.retried = make(chan struct{})
		if p.rebuild != nil {
			p.rebuild.finish(errors.New("projection: processor stopped during rebuild"))
			p.rebuild = nil
		}
		p.mu.Unlock()
	}()
	go p.watch(ctx, cancel)

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
		if err := p.retryParked(ctx, cp); err != nil {
			restart(nil)
			return err
		}
		if stop && cp.Compare(stopAt) >= 0 {
			restart(nil)
			return nil
		}
		step := func(ctx context.Context, b Batch, work *batchWork) error {
			next, err := p.apply(ctx, cp, b, work)
			if err != nil {
				return err
			}
			cp = next
			if p.proj != nil && p.role() == roleBuilding {
				if _, err := p.trySwitch(ctx); err != nil {
					return err
				}
			}
			if stop && cp.Compare(stopAt) >= 0 {
				restart(nil)
			}
			return nil
		}
		var pipe *pipeline // batches prepared and applied on goroutines of their own
		if pl, ok := p.source.(Pipeliner); ok && pl.Pipelined() && p.proj != nil {
			pipe = &pipeline{}
		}
		err := p.source.Subscribe(subCtx, cp, func(ctx context.Context, b Batch) error {
			if pipe == nil {
				return step(ctx, b, nil)
			}
			if err := pipe.make(); err != nil {
				return err
			}
			// The source may reuse its batch's memory once handle returns.
			b.Events = slices.Clone(b.Events)
			pipe.start(ctx, func() *batchWork { return p.prepare(b.Events) },
				func(work *batchWork) error { return step(ctx, b, work) }, restart)
			return nil
		})
		if pipe != nil {
			if perr := pipe.wait(); perr != nil {
				err = perr
			}
		}
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

// pipeline runs a projector's batches on goroutines of their own, one
// per batch: each prepares its batch (decodes its events) while the batch
// before is applied, then applies it once that one is over, while the
// source reads the next. Batches are applied one at a time, in order;
// none is applied after one that failed. At most two are in flight. Only
// the goroutine that calls the source's handle (and then Subscribe's
// caller) calls its methods.
type pipeline struct {
	last, before chan struct{} // closed when the last batch started, the one before it, are over
	mu           sync.Mutex
	err          error // of the batch that failed
}

func (pl *pipeline) failure() error {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.err
}

// make makes room for a batch: it waits until at most one is in flight,
// and returns the error of the batch that failed, if one did.
func (pl *pipeline) make() error {
	if pl.before != nil {
		<-pl.before
		pl.before = nil
	}
	return pl.failure()
}

// wait waits until no batch is in flight, and returns the error of the
// batch that failed, if one did.
func (pl *pipeline) wait() error {
	if pl.last != nil {
		<-pl.last
		pl.last, pl.before = nil, nil
	}
	return pl.failure()
}

// start prepares a batch and applies it on a goroutine of its own, once
// the batch before it is over, unless that one failed or ctx ended (the
// batch before was the last one asked for). If it fails, failed is called
// with its error, to end the subscription.
func (pl *pipeline) start(ctx context.Context, prepare func() *batchWork, apply func(*batchWork) error, failed func(error)) {
	prev, done := pl.last, make(chan struct{})
	pl.last, pl.before = done, prev
	go func() {
		defer close(done)
		work := prepare()
		if prev != nil {
			<-prev
		}
		if pl.failure() != nil || ctx.Err() != nil {
			return
		}
		if err := apply(work); err != nil {
			pl.mu.Lock()
			pl.err = err
			pl.mu.Unlock()
			failed(err)
		}
	}()
}

// batchWork is the part of a batch's work done before its transaction:
// the events the processor handles and, for a projection that prepares
// (see preparer), the function that applies them in a transaction.
type batchWork struct {
	events []emmett.RecordedEvent
	handle func(context.Context, Tx) error
}

// handled returns the events of events that the processor handles: events
// itself when it handles every type, a new slice otherwise.
func (p *Processor) handled(events []emmett.RecordedEvent) []emmett.RecordedEvent {
	if p.types == nil {
		return events
	}
	out := make([]emmett.RecordedEvent, 0, len(events))
	for _, e := range events {
		if slices.Contains(p.types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// prepare does the work of a batch that needs no transaction: it picks
// the events the processor handles and has a preparer projection decode
// them.
func (p *Processor) prepare(events []emmett.RecordedEvent) *batchWork {
	w := &batchWork{events: p.handled(events)}
	if pr, ok := p.proj.(preparer); ok && len(w.events) > 0 {
		w.handle = pr.prepare(w.events)
	}
	return w
}

// apply processes one batch and moves the checkpoint from cp to b.End, in
// an emmett.processor.batch span when the batch has events. work is the
// batch's prepared work, or nil.
func (p *Processor) apply(ctx context.Context, cp eventstore.Position, b Batch, work *batchWork) (eventstore.Position, error) {
	if work == nil {
		work = &batchWork{events: p.handled(b.Events)}
	}
	if len(b.Events) == 0 {
		return p.applyBatch(ctx, cp, b, work, nil)
	}
	ctx, op := p.tel.StartBatch(ctx, cp, b.End, b.Events)
	next, err := p.applyBatch(ctx, cp, b, work, &op)
	op.End(err)
	return next, err
}

func (p *Processor) applyBatch(ctx context.Context, cp eventstore.Position, b Batch, work *batchWork, op *instrument.Batch) (eventstore.Position, error) {
	events, prepared := work.events, work.handle
	var aside []failure // the events the failure policy set aside
	reacted := 0        // a reactor ran its side effect for events[:reacted]
	for {
		f, err := p.tryBatch(ctx, cp, b.End, events, aside, &reacted, op, prepared)
		prepared = nil // it was for the batch's first try, with every event
		if err == nil {
			break
		}
		if errors.Is(err, ErrCheckpointMoved) || restartable(err) || ctx.Err() != nil {
			// Not the handler's fault: Run decides what comes next.
			return cp, err
		}
		found := p.pinFailure(ctx, err, events, &f)
		perr := &ProcessorError{Processor: p.id, Event: f.event, Err: err}
		if re := (*reactionError)(nil); errors.As(err, &re) {
			perr.Err = re.err
		}
		if p.cfg.failure == StopOnFailure || !found {
			p.cfg.logger.ErrorContext(ctx, "processor stopped", "processor", p.id, "error", perr)
			return cp, perr
		}
		// Set the event aside, and try the rest of the batch again.
		aside = append(aside, f)
		events = without(events, f.event)
	}
	for _, f := range aside {
		what := "processor skipped an event its handler kept failing on"
		if p.cfg.failure == ParkOnFailure {
			what = "processor parked an event its handler kept failing on"
		}
		p.cfg.logger.WarnContext(ctx, what, "processor", p.id, "event_type", f.event.Type,
			"position", eventstore.PositionOf(f.event).String(), "stream", f.event.StreamName, "stream_position", f.event.StreamPosition,
			"message_id", f.event.MessageID, "attempts", f.attempts, "error", f.err)
		if op != nil {
			op.SetAside(f.event, p.cfg.failure == ParkOnFailure, f.err)
		}
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

// tryBatch commits events (and the events set aside, parked with
// ParkOnFailure) and moves the checkpoint from cp to end, trying again as
// the retry policy says. It returns the last try's error, and the tries
// that failed (in f's attempts, first and last).
//
// prepared, when set, is the projection's prepared work for events, run by
// the first try (the others decode the events again: a retry starts
// afresh).
func (p *Processor) tryBatch(ctx context.Context, cp, end eventstore.Position, events []emmett.RecordedEvent, aside []failure, reacted *int, op *instrument.Batch,
	prepared func(context.Context, Tx) error) (f failure, err error) {
	for attempt := 1; attempt <= p.cfg.retry.MaxAttempts; attempt++ {
		if attempt > 1 {
			if op != nil {
				op.Retry(err)
			}
			p.cfg.logger.WarnContext(ctx, "retrying batch", "processor", p.id, "attempt", attempt, "error", err)
			if werr := p.cfg.retry.Wait(ctx, attempt-1); werr != nil {
				return f, werr
			}
		}
		err = p.commit(ctx, cp, end, events, aside, reacted, prepared)
		prepared = nil
		if err == nil {
			return f, nil
		}
		if errors.Is(err, ErrCheckpointMoved) || restartable(err) || ctx.Err() != nil {
			return f, err
		}
		f.last = time.Now()
		if f.attempts == 0 {
			f.first = f.last
		}
		f.attempts++
	}
	return f, err
}

// pinFailure finds the event of events that err, the error of a batch,
// is about, and sets it in f with its error; it reports whether it found
// one.
func (p *Processor) pinFailure(ctx context.Context, err error, events []emmett.RecordedEvent, f *failure) bool {
	var pe *Error
	var re *reactionError
	switch {
	case errors.As(err, &re):
		f.event, f.err = re.event, re.err
		return true
	case errors.As(err, &pe) && pe.Event.Type != "" && indexOf(events, pe.Event) >= 0:
		f.event, f.err = pe.Event, err
		return true
	case len(events) > 0 && p.proj != nil:
		f.event, f.err = p.findFailing(ctx, events)
		if f.err == nil {
			f.event, f.err = events[0], err // the first suspect
			return false
		}
		return true
	}
	return false
}

type reactionError struct {
	event emmett.RecordedEvent
	err   error
}

func (e *reactionError) Error() string { return e.err.Error() }
func (e *reactionError) Unwrap() error { return e.err }

// commit applies events and moves the checkpoint from from to to, in one
// transaction for a projector; a reactor runs its side effects for
// events[*reacted:] first, counting them in *reacted. With ParkOnFailure,
// the events set aside are parked in the transaction. prepared, when set,
// is the projection's prepared work for events, run instead of its Handle.
func (p *Processor) commit(ctx context.Context, from, to eventstore.Position, events []emmett.RecordedEvent, aside []failure, reacted *int,
	prepared func(context.Context, Tx) error) error {
	var park func(context.Context, Tx) error
	if len(aside) > 0 && p.cfg.failure == ParkOnFailure {
		park = func(ctx context.Context, tx Tx) error {
			for _, f := range aside {
				if err := p.store.Park(ctx, tx, f.parked(p.id)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if p.react != nil {
		for ; *reacted < len(events); *reacted++ {
			if err := p.react(ctx, events[*reacted]); err != nil {
				return &reactionError{event: events[*reacted], err: err}
			}
		}
		return p.store.Commit(ctx, p.id, from, to, park)
	}
	if len(events) == 0 {
		return p.store.Commit(ctx, p.id, from, to, park)
	}
	handle := prepared
	if handle == nil {
		handle = func(ctx context.Context, tx Tx) error { return p.proj.Handle(ctx, tx, events) }
	}
	return p.store.Commit(ctx, p.id, from, to, func(ctx context.Context, tx Tx) error {
		if err := handle(ctx, tx); err != nil {
			return err
		}
		if park != nil {
			return park(ctx, tx)
		}
		return nil
	})
}

var errDiagnosed = errors.New("projection: diagnosis done")

// findFailing replays a failed batch one event at a time in a transaction
// that is always rolled back, to tell which event fails: it returns the
// first that does and the handler's error for it, or no error when none
// does (the failure was the batch's as a whole, or the store's).
func (p *Processor) findFailing(ctx context.Context, events []emmett.RecordedEvent) (failing emmett.RecordedEvent, cause error) {
	cp, _ := p.Checkpoint()
	_ = p.store.Commit(ctx, p.id, cp, cp, func(ctx context.Context, tx Tx) error {
		for _, e := range events {
			if err := p.proj.Handle(ctx, tx, []emmett.RecordedEvent{e}); err != nil {
				failing, cause = e, err
				break
			}
		}
		return errDiagnosed
	})
	return failing, cause
}

// WaitFor blocks until the processor has processed the event at pos (as an
// append returned it), or ctx ends. It works whichever instance runs the
// processor: when it is not running here, it reads the stored checkpoint.
// For a projector whose version is not the active one (being built, or
// replaced), it waits for the processor of the active version, whose read
// model a Collection reads.
func (p *Processor) WaitFor(ctx context.Context, pos eventstore.Position) error {
	target, err := p.source.Target(ctx, pos)
	if err != nil {
		return err
	}
	targets := map[string]eventstore.Position{} // of other versions' processors
	wasRunning := false
	for {
		// Which version readers read is looked up on every turn: a switch
		// during the wait moves it to the new version's processor.
		id, err := p.waitProcessor(ctx)
		if err != nil {
			return err
		}
		p.mu.Lock()
		cp, running, advanced := p.checkpoint, p.running, p.advanced
		p.mu.Unlock()
		var wait <-chan time.Time
		want := target
		if id != p.id {
			if want, err = p.targetOf(ctx, targets, id, pos); err != nil {
				return err
			}
			if cp, _, err = p.store.ReadCheckpoint(ctx, id); err != nil {
				return err
			}
			wait = time.After(p.cfg.pollInterval)
		} else {
			if wasRunning && !running {
				// This instance stopped: another may take over. Ask the
				// source again, for a target that instance is told to reach
				// (a source's target can depend on which instance follows
				// it).
				if target, err = p.source.Target(ctx, pos); err != nil {
					return err
				}
				want = target
			}
			wasRunning = running
			if !running {
				stored, _, err := p.store.ReadCheckpoint(ctx, p.id)
				if err != nil {
					return err
				}
				cp = stored
				wait = time.After(p.cfg.pollInterval)
			}
		}
		if cp.Compare(want) >= 0 {
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

// targetOf returns the target of pos for the processor id of another
// version, asked of the source once.
func (p *Processor) targetOf(ctx context.Context, targets map[string]eventstore.Position, id string, pos eventstore.Position) (eventstore.Position, error) {
	if t, ok := targets[id]; ok {
		return t, nil
	}
	pt, ok := p.source.(ProcessorTargeter)
	if !ok {
		t, err := p.source.Target(ctx, pos)
		targets[id] = t
		return t, err
	}
	t, err := pt.TargetFor(ctx, id, pos)
	if err == nil {
		targets[id] = t
	}
	return t, err
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

// reset deletes the projection's read model and the processor's parked
// events (the replay delivers them again) and moves the checkpoint back to
// the start, in one transaction.
func (p *Processor) reset(ctx context.Context, cp eventstore.Position, rb *rebuildRun) (eventstore.Position, error) {
	reset := func(ctx context.Context, tx Tx) error {
		if p.proj != nil {
			if err := p.proj.Reset(ctx, tx); err != nil {
				return err
			}
		}
		return p.store.Unpark(ctx, tx, p.id, 0)
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

// ResetAndRebuild empties the projection's read model (its Reset, and the
// processor's parked events) and replays the log into it from the
// beginning, up to the end of the log as it is when ResetAndRebuild is
// called, reporting progress along the way. Readers see the read model
// empty, then partial, until the replay is over: it is for development
// and tests. In production, bump the projection's version instead (see
// VersionStatus): the new version is built beside the current one, which
// serves reads until the new one has caught up. Appends may go on
// meanwhile: the processor goes on past them afterwards as usual.
//
// If this instance is running the processor, ResetAndRebuild has it
// restart from scratch; otherwise it takes the processor's lock, rebuilds,
// and releases it once caught up. While another instance (another process)
// runs the processor, ResetAndRebuild waits for the lock until that
// instance stops or ctx ends: call it in the instance that runs the
// processor, or stop the others first.
func (p *Processor) ResetAndRebuild(ctx context.Context, progress func(Progress)) error {
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

// Rebuild is ResetAndRebuild.
//
// Deprecated: Rebuild empties the read model that readers see; use
// ResetAndRebuild where that is what is meant (development, tests), and a
// new version of the projection (WithVersion) to rebuild without downtime.
func (p *Processor) Rebuild(ctx context.Context, progress func(Progress)) error {
	return p.ResetAndRebuild(ctx, progress)
}
