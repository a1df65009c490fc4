package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Store is what a workflow processor needs of a store: its events, its
// processors' checkpoints and locks, its documents (where scheduled
// messages wait) and its polling feed. The memory, SQLite and PostgreSQL
// stores are all one.
type Store interface {
	eventstore.Store
	Processors() projection.CheckpointStore
	Documents() projection.DocumentStore
	Source(opts ...projection.PollOption) projection.Source
}

// SchedulesCollection is the document collection where scheduled messages
// wait until they are due, one document per message (its id the id of the
// record that scheduled it), for every workflow of a store.
const SchedulesCollection = "workflow_schedules"

// SpanHandle is the name of the span of the handling of one input by a
// workflow instance: its decision, its append and its dispatches (the
// command handlers' spans are its children). It is linked to the span that
// appended the input event (or scheduled the message).
const SpanHandle = "emmett.workflow.handle"

// Metadata fields of the records of an instance's stream.
const (
	fieldKind   = "emt.workflow" // the record's Kind
	fieldTo     = "emt.to"       // the stream a published event went to
	fieldAt     = "emt.at"       // when a scheduled message is due (RFC 3339)
	fieldSource = "emt.source"   // the message id of the input received
)

// Processor runs a workflow: it routes the input events of a store to
// their instances, records each instance's decisions in its stream
// (Name-id) and dispatches them: commands through a command.Router,
// events appended to their streams, scheduled messages kept in the
// store's documents and delivered back when due.
//
// Each input is handled exactly once: the records of its decision get
// message ids derived from the input's own (see
// eventstore.IdempotentMessageID) and are appended with the version of the
// instance's stream that was read, so a second handling (a retry, a
// restart after a crash, another instance) finds them and decides nothing
// again. Its recorded outputs are dispatched again instead, each under an
// idempotency key derived from its record (so a command handled already
// is not handled twice, an event is not appended twice), before the
// processor's checkpoint moves past the input: a crash between the
// workflow's append and the dispatch still dispatches exactly once.
type Processor[I, S, O any] struct {
	wf       Workflow[I, S, O]
	store    Store
	docs     projection.DocumentStore
	inputs   *emmett.Events[I]
	outputs  *emmett.Events[O]
	router   *command.Router
	reactor  *projection.Processor
	cfg      config
	tracer   trace.Tracer
	typeName string
}

type config struct {
	id        string
	source    projection.Source
	procOpts  []projection.ProcessorOption
	now       func() time.Time
	poll      time.Duration
	retry     emmett.RetryPolicy
	telemetry telemetry.Config
	logger    *slog.Logger
}

// Option configures a Processor.
type Option func(*config)

// WithProcessorID names the processor (its checkpoint and its locks);
// the workflow's Name by default.
func WithProcessorID(id string) Option { return func(c *config) { c.id = id } }

// WithSource sets the feed of input events (such as PostgreSQL's logical
// replication); the store's polling feed by default.
func WithSource(s projection.Source) Option { return func(c *config) { c.source = s } }

// WithProcessorOptions passes options to the underlying reactor processor
// (projection.NewReactorProcessor): where to start, its retry and failure
// policy, its logger.
func WithProcessorOptions(opts ...projection.ProcessorOption) Option {
	return func(c *config) { c.procOpts = append(c.procOpts, opts...) }
}

// WithClock sets the clock that computes when messages scheduled After a
// duration are due, and tells which are; time.Now by default.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSchedulePoll sets how often Run looks for scheduled messages that
// came due (it also wakes for the next one it knows of); 1 s by default.
func WithSchedulePoll(d time.Duration) Option { return func(c *config) { c.poll = d } }

// WithRetry sets how an input whose append lost a race to another writer
// of the instance's stream is retried (reloaded, decided again);
// command.DefaultConflictRetry by default.
func WithRetry(p emmett.RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithLogger sets the logger of the processor (its reactor's too);
// slog's default logger by default.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTelemetry sets where the processor's spans go (its reactor's too);
// the global OpenTelemetry providers by default.
func WithTelemetry(cfg telemetry.Config) Option { return func(c *config) { c.telemetry = cfg } }

// NewProcessor returns the processor of wf on store: inputs decodes its
// inputs (the event types it reacts to, and the messages it schedules),
// outputs encodes the commands and events it sends and publishes, and
// router dispatches its commands. It panics if wf's Name cannot name a
// stream type.
func NewProcessor[I, S, O any](store Store, wf Workflow[I, S, O], inputs *emmett.Events[I], outputs *emmett.Events[O], router *command.Router, opts ...Option) *Processor[I, S, O] {
	if wf.Name == "" || strings.Contains(wf.Name, "-") {
		panic(fmt.Sprintf("workflow: invalid name %q: it names stream types, so it must be non-empty and without '-'", wf.Name))
	}
	cfg := config{id: wf.Name, now: time.Now, poll: time.Second, retry: command.DefaultConflictRetry()}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.retry.MaxAttempts = max(cfg.retry.MaxAttempts, 1)
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.source == nil {
		cfg.source = store.Source()
	}
	tp := cfg.telemetry.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	p := &Processor[I, S, O]{wf: wf, store: store, docs: store.Documents(), inputs: inputs, outputs: outputs, router: router,
		cfg: cfg, tracer: tp.Tracer("github.com/emmett-go/emmett/workflow"), typeName: wf.Name}
	procOpts := append([]projection.ProcessorOption{projection.WithTelemetry(cfg.telemetry), projection.WithLogger(cfg.logger)}, cfg.procOpts...)
	p.reactor = projection.NewReactorProcessor(store.Processors(), cfg.source, cfg.id, inputs.ReadNames(), p.react, procOpts...)
	return p
}

// ID returns the processor's id.
func (p *Processor[I, S, O]) ID() string { return p.cfg.id }

// Stream returns the name of the stream of the instance id.
func (p *Processor[I, S, O]) Stream(id string) string { return p.wf.Name + "-" + id }

// Reactor returns the reactor processor that feeds the workflow its input
// events: for its checkpoint, WaitFor and parked events.
func (p *Processor[I, S, O]) Reactor() *projection.Processor { return p.reactor }

// Run handles input events and delivers scheduled messages when they are
// due, until ctx ends (it then returns nil) or a failure stops it. Like a
// reactor processor's Run it waits first for the processor's lock (only
// one instance of the application runs it at a time) and outlives the
// store's outages; the scheduled messages are delivered by the holder of a
// lock of their own (the processor's id with "-schedule").
func (p *Processor[I, S, O]) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- p.reactor.Run(ctx) }()
	go func() { errs <- p.RunSchedule(ctx) }()
	err := <-errs
	cancel()
	err = errors.Join(err, <-errs)
	if ctx.Err() != nil && err == nil {
		return nil
	}
	return err
}

// CatchUp handles the input events appended before it was called (see
// projection.Processor.CatchUp), then delivers the scheduled messages due
// by then; it holds the locks while it does.
func (p *Processor[I, S, O]) CatchUp(ctx context.Context) error {
	if err := p.reactor.CatchUp(ctx); err != nil {
		return err
	}
	lock, err := p.store.Processors().Lock(ctx, p.scheduleLock())
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	_, err = p.deliverDue(ctx)
	return err
}

// WaitFor blocks until the processor has handled the event at pos (its
// outputs dispatched), whichever instance runs it, or ctx ends.
func (p *Processor[I, S, O]) WaitFor(ctx context.Context, pos eventstore.Position) error {
	return p.reactor.WaitFor(ctx, pos)
}

func (p *Processor[I, S, O]) scheduleLock() string { return p.cfg.id + "-schedule" }

// react handles one input event.
func (p *Processor[I, S, O]) react(ctx context.Context, rec emmett.RecordedEvent) error {
	if _, ok := rec.Metadata.Fields[fieldKind]; ok {
		return nil // a workflow's record, not an input
	}
	in, err := p.inputs.DecodeRecorded(rec)
	if err != nil {
		return err
	}
	id := p.wf.ID(in.Event)
	if id == "" {
		return nil
	}
	return p.handle(ctx, p.Stream(id), in.Event, rec.MessageID, rec.Metadata)
}

// handle makes instance stream handle input, whose message id is
// sourceID: it decides and records the outputs unless they are recorded
// already, then dispatches them.
func (p *Processor[I, S, O]) handle(ctx context.Context, stream string, input I, sourceID string, meta emmett.Metadata) (err error) {
	var links []trace.Link
	if sc := telemetry.SpanContextFromMetadata(meta); sc.IsValid() {
		links = append(links, trace.Link{SpanContext: sc})
	}
	ctx, span := p.tracer.Start(ctx, SpanHandle, trace.WithLinks(links...), trace.WithAttributes(
		attribute.String("emmett.workflow.name", p.wf.Name), attribute.String("emmett.stream.name", stream),
		attribute.String("emmett.workflow.input_message_id", sourceID)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	for attempt := 1; ; attempt++ {
		records, err := p.decide(ctx, stream, input, sourceID, meta)
		if err == nil {
			return p.dispatch(ctx, records)
		}
		raced := errors.Is(err, eventstore.ErrVersionConflict) || errors.Is(err, eventstore.ErrDuplicateMismatch)
		if !raced || attempt >= p.cfg.retry.MaxAttempts {
			return err
		}
		if err := p.cfg.retry.Wait(ctx, attempt); err != nil {
			return err
		}
	}
}

// decide loads the instance's stream and returns the records of input:
// those stored already when it was handled before, or else those of a new
// decision, appended.
func (p *Processor[I, S, O]) decide(ctx context.Context, stream string, input I, sourceID string, meta emmett.Metadata) ([]emmett.RecordedEvent, error) {
	state := p.wf.InitialState()
	var version int64
	var handled []emmett.RecordedEvent
	for rec, err := range p.store.ReadStream(ctx, stream) {
		if err != nil {
			return nil, err
		}
		version = rec.StreamPosition
		if rec.MessageID == eventstore.IdempotentMessageID(sourceID, stream, len(handled)) {
			handled = append(handled, rec)
		}
		m, err := p.message(rec)
		if err != nil {
			return nil, err
		}
		state = p.wf.Evolve(state, m)
	}
	if len(handled) > 0 {
		return handled, nil
	}
	outs, err := p.wf.Decide(input, state)
	if err != nil {
		return nil, err
	}
	base := emmett.Metadata{CorrelationID: meta.CorrelationID, CausationID: sourceID}
	data := make([]eventstore.EventData, 0, 1+len(outs))
	rec, err := p.record(Message[I, O]{Kind: Received, Input: input}, base.With(fieldSource, sourceID))
	if err != nil {
		return nil, err
	}
	data = append(data, rec)
	now := p.cfg.now()
	for _, o := range outs {
		m, err := o.Message(now)
		if err != nil {
			return nil, err
		}
		rec, err := p.record(m, base)
		if err != nil {
			return nil, err
		}
		data = append(data, rec)
	}
	// Each record's id derives from the input's, as an idempotency key
	// would give it: a repeat of the append is found by every store.
	for i := range data {
		data[i].MessageID = eventstore.IdempotentMessageID(sourceID, stream, i)
	}
	res, err := p.store.AppendToStream(ctx, stream, data, eventstore.ExpectVersion(version))
	if err != nil {
		return nil, err
	}
	return res.Events, nil
}

// record encodes a message of an instance's stream.
func (p *Processor[I, S, O]) record(m Message[I, O], meta emmett.Metadata) (eventstore.EventData, error) {
	var (
		name    string
		version int
		data    []byte
		err     error
	)
	switch m.Kind {
	case Received, Scheduled:
		name, version, data, err = p.inputs.EncodeVersion(m.Input)
	default:
		name, version, data, err = p.outputs.EncodeVersion(m.Output)
	}
	if err != nil {
		return eventstore.EventData{}, err
	}
	meta = meta.With(fieldKind, string(m.Kind))
	switch m.Kind {
	case Published:
		meta = meta.With(fieldTo, m.To)
	case Scheduled:
		meta = meta.With(fieldAt, m.At.Format(time.RFC3339Nano))
	}
	return eventstore.EventData{Type: string(m.Kind) + ":" + name, Data: data, SchemaVersion: version, Metadata: meta}, nil
}

// payloadType returns the kind of a record of an instance's stream and
// the type name of its input or output, which its own type name
// prefixes with the kind ("received:OrderPlaced"), so that the
// processors that select events by their type names (projections, this
// workflow's own reactor) never take a record for the event it holds.
func payloadType(rec emmett.RecordedEvent) (Kind, string) {
	kind, name, _ := strings.Cut(rec.Type, ":")
	return Kind(kind), name
}

// message decodes a record of an instance's stream.
func (p *Processor[I, S, O]) message(rec emmett.RecordedEvent) (Message[I, O], error) {
	kind, name := payloadType(rec)
	m := Message[I, O]{Kind: kind}
	var err error
	switch m.Kind {
	case Received, Scheduled:
		if m.Input, err = p.inputs.DecodeVersion(name, rec.SchemaVersion, rec.Data); err != nil {
			return m, err
		}
		if m.Kind == Scheduled {
			if m.At, err = dueTime(rec); err != nil {
				return m, err
			}
		}
	case Sent, Published:
		if m.Output, err = p.outputs.DecodeVersion(name, rec.SchemaVersion, rec.Data); err != nil {
			return m, err
		}
		m.To, _ = rec.Metadata.Fields[fieldTo].(string)
	default:
		return m, fmt.Errorf("workflow: stream %q position %d is not a workflow's record (type %q)", rec.StreamName, rec.StreamPosition, rec.Type)
	}
	return m, nil
}

// dueTime returns when the message a Scheduled record holds is due.
func dueTime(rec emmett.RecordedEvent) (time.Time, error) {
	at, _ := rec.Metadata.Fields[fieldAt].(string)
	due, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return due, fmt.Errorf("workflow: stream %q position %d: due time %q: %w", rec.StreamName, rec.StreamPosition, at, err)
	}
	return due, nil
}

// dispatch carries out the outputs among records (the first is the input
// received), each idempotently under its record's message id.
func (p *Processor[I, S, O]) dispatch(ctx context.Context, records []emmett.RecordedEvent) error {
	for _, rec := range records[1:] {
		kind, name := payloadType(rec)
		meta := emmett.Metadata{CorrelationID: rec.Metadata.CorrelationID, CausationID: rec.MessageID}
		switch kind {
		case Sent:
			cmd, err := p.outputs.DecodeVersion(name, rec.SchemaVersion, rec.Data)
			if err != nil {
				return err
			}
			if err := p.router.Send(ctx, cmd, eventstore.WithIdempotencyKey(rec.MessageID), eventstore.WithMetadata(meta)); err != nil {
				return fmt.Errorf("workflow %s: sending %s (stream %q position %d): %w", p.wf.Name, name, rec.StreamName, rec.StreamPosition, err)
			}
		case Published:
			to, _ := rec.Metadata.Fields[fieldTo].(string)
			// The id is the one the record's id as an idempotency key
			// gives, set here so that every store sees a repeat.
			ev := eventstore.EventData{MessageID: eventstore.IdempotentMessageID(rec.MessageID, to, 0), Type: name, Data: rec.Data,
				SchemaVersion: rec.SchemaVersion, Metadata: meta}
			if _, err := p.store.AppendToStream(ctx, to, []eventstore.EventData{ev}); err != nil {
				return fmt.Errorf("workflow %s: publishing %s to %q: %w", p.wf.Name, name, to, err)
			}
		case Scheduled:
			due, err := dueTime(rec)
			if err != nil {
				return err
			}
			doc, err := json.Marshal(schedule{Workflow: p.wf.Name, Stream: rec.StreamName, Type: name, SchemaVersion: rec.SchemaVersion,
				Data: rec.Data, At: due, Metadata: rec.Metadata})
			if err != nil {
				return err
			}
			if err := p.docs.Put(ctx, SchedulesCollection, rec.MessageID, doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// scheduleWorkflowField is the field of a schedule that names its
// workflow, which deliveries look schedules up by.
const scheduleWorkflowField = "workflow"

// schedule is a scheduled message waiting in SchedulesCollection.
type schedule struct {
	Workflow      string          `json:"workflow"` // the workflow's Name (scheduleWorkflowField): any of its processors delivers it
	Stream        string          `json:"stream"`   // the instance's
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
	At            time.Time       `json:"at"`
	Metadata      emmett.Metadata `json:"metadata"` // the scheduling record's
}

// deliverDue delivers the scheduled messages due now, earliest first, and
// returns when the next one not due yet is (zero when there is none).
func (p *Processor[I, S, O]) deliverDue(ctx context.Context) (time.Time, error) {
	type pending struct {
		id string
		s  schedule
	}
	var due []pending
	var next time.Time
	// The schedules are looked up by workflow, through an index on the
	// field: without it (or PostgreSQL's GIN index, which collections have
	// only where declared) each delivery would read every schedule of
	// every workflow. A store knows its indexes: once there, this costs
	// nothing.
	if err := p.docs.EnsureIndex(ctx, SchedulesCollection, scheduleWorkflowField); err != nil {
		return time.Time{}, err
	}
	now := p.cfg.now()
	for doc, err := range p.docs.Find(ctx, SchedulesCollection, projection.Query{Conditions: []projection.Condition{projection.Eq(scheduleWorkflowField, p.wf.Name)}}) {
		if err != nil {
			return time.Time{}, err
		}
		var s schedule
		if err := json.Unmarshal(doc.Data, &s); err != nil {
			return time.Time{}, fmt.Errorf("workflow: scheduled message %q: %w", doc.ID, err)
		}
		if s.At.After(now) {
			if next.IsZero() || s.At.Before(next) {
				next = s.At
			}
			continue
		}
		due = append(due, pending{doc.ID, s})
	}
	slices.SortFunc(due, func(a, b pending) int { return a.s.At.Compare(b.s.At) })
	for _, d := range due {
		in, err := p.inputs.DecodeVersion(d.s.Type, d.s.SchemaVersion, d.s.Data)
		if err != nil {
			return time.Time{}, fmt.Errorf("workflow: scheduled message %q: %w", d.id, err)
		}
		if err := p.handle(ctx, d.s.Stream, in, d.id, d.s.Metadata); err != nil {
			return time.Time{}, err
		}
		if err := p.docs.Delete(ctx, SchedulesCollection, d.id); err != nil {
			return time.Time{}, err
		}
	}
	return next, nil
}

// RunSchedule delivers scheduled messages when they are due, while it
// holds the schedule's lock (waiting for it first), until ctx ends; it
// then returns nil. It outlives the store's outages and its own failures
// (a delivery that fails), which it logs and tries again after a pause.
// Run runs it beside the reactor; an application that runs the
// workflow's Reactor in a projection.Group runs RunSchedule on each
// instance.
func (p *Processor[I, S, O]) RunSchedule(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		started := time.Now()
		err := p.scheduleLocked(ctx)
		if time.Since(started) > time.Minute {
			failures = 0 // it ran fine for a while: this is a new failure
		}
		if ctx.Err() != nil {
			return nil
		}
		failures++
		wait := min(time.Duration(failures)*100*time.Millisecond, 5*time.Second)
		p.cfg.logger.WarnContext(ctx, "workflow schedule interrupted, starting again", "processor", p.cfg.id, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// scheduleLocked takes the schedule's lock and delivers scheduled messages
// until ctx ends, the lock is lost or a delivery fails.
func (p *Processor[I, S, O]) scheduleLocked(ctx context.Context) error {
	lock, err := p.store.Processors().Lock(ctx, p.scheduleLock())
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lock.Lost():
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		next, err := p.deliverDue(ctx)
		if err != nil {
			return err
		}
		wait := p.cfg.poll
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(p.cfg.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
