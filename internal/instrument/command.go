package instrument

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Command instruments a command handler. A nil *Command instruments
// nothing.
type Command struct {
	tracer   trace.Tracer            // nil: no spans
	duration metric.Float64Histogram // nil: no metrics
	types    sync.Map                // reflect.Type -> *commandAttrs
	untyped  *commandAttrs
}

// outcome indexes the per-outcome options of an attribute set.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeRejected
	outcomeConflict
	outcomeError
	outcomes
)

var outcomeNames = [outcomes]string{telemetry.OutcomeOK, telemetry.OutcomeRejected, telemetry.OutcomeConflict, telemetry.OutcomeError}

// commandAttrs is what is attached to the telemetry of one command type,
// built on first use.
type commandAttrs struct {
	typ     attribute.KeyValue // CommandTypeKey; empty Key when the command has no type
	metrics [outcomes][]metric.RecordOption
}

func newCommandAttrs(t reflect.Type) *commandAttrs {
	a := &commandAttrs{}
	if t != nil {
		a.typ = telemetry.CommandTypeKey.String(TypeName(t))
	}
	for o := range outcomes {
		out := telemetry.OutcomeKey.String(outcomeNames[o])
		if a.typ.Key != "" {
			a.metrics[o] = recordOpts(a.typ, out)
		} else {
			a.metrics[o] = recordOpts(out)
		}
	}
	return a
}

// NewCommand resolves cfg for a command handler.
func NewCommand(cfg telemetry.Config, scope string) *Command {
	c := &Command{tracer: tracer(cfg, scope), untyped: newCommandAttrs(nil)}
	if m := meter(cfg, scope); m != nil {
		c.duration = histogram(m, telemetry.MetricCommandDuration, "Duration of command handling: load, decide, append, and retries")
	}
	return c
}

func (c *Command) attrs(t reflect.Type) *commandAttrs {
	if t == nil {
		return c.untyped
	}
	if a, ok := c.types.Load(t); ok {
		return a.(*commandAttrs)
	}
	a, _ := c.types.LoadOrStore(t, newCommandAttrs(t))
	return a.(*commandAttrs)
}

// CommandType returns the dynamic type of cmd (nil for a nil interface),
// without boxing it.
func CommandType[C any](cmd C) reflect.Type {
	t := reflect.TypeFor[C]()
	if t.Kind() == reflect.Interface {
		if v := any(cmd); v != nil {
			return reflect.TypeOf(v)
		}
		return nil
	}
	return t
}

// TypeName is the name of t without its package, and without pointers.
func TypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n := t.Name(); n != "" {
		return n
	}
	return t.String()
}

// Handling is one command in flight.
type Handling struct {
	c        *Command
	ctx      context.Context
	span     trace.Span
	start    time.Time
	typ      reflect.Type
	stream   string
	before   int64
	attempts int
	rejected bool
}

// Start starts the handling of a command of type typ (nil when it has
// none) on stream.
func (c *Command) Start(ctx context.Context, typ reflect.Type, stream string) (context.Context, Handling) {
	h := Handling{c: c, typ: typ, stream: stream, span: noSpan()}
	if c == nil {
		return ctx, h
	}
	if c.tracer != nil {
		ctx, h.span = c.tracer.Start(ctx, telemetry.SpanCommandHandle)
	}
	if c.duration != nil && c.duration.Enabled(ctx) {
		h.start = time.Now()
	}
	h.ctx = ctx
	return ctx, h
}

// Attempt marks the start of an attempt.
func (h *Handling) Attempt() { h.attempts++ }

// Loaded records the version the command is decided on.
func (h *Handling) Loaded(version int64) { h.before = version }

// Rejected marks the error that ends the handling as the decision's.
func (h *Handling) Rejected() { h.rejected = true }

// Step starts a child span of the handling: only when the handling's own
// span is recorded, as its details are of no use otherwise.
func (h *Handling) Step(ctx context.Context, name string) (context.Context, trace.Span) {
	if !h.span.IsRecording() {
		return ctx, noSpan()
	}
	return h.c.tracer.Start(ctx, name)
}

// End ends the handling, at stream version after with events new events,
// or with err.
func (h *Handling) End(after int64, events int, err error) {
	if h.c == nil {
		return
	}
	o := outcomeOK
	switch {
	case err == nil:
	case h.rejected:
		o = outcomeRejected
	case errors.Is(err, eventstore.ErrVersionConflict):
		o = outcomeConflict
	default:
		o = outcomeError
	}
	recording := h.span.IsRecording()
	var a *commandAttrs
	if recording || !h.start.IsZero() {
		a = h.c.attrs(h.typ)
	}
	if recording {
		attrs := make([]attribute.KeyValue, 0, 7)
		if a.typ.Key != "" {
			attrs = append(attrs, a.typ)
		}
		attrs = append(attrs,
			telemetry.StreamNameKey.String(h.stream),
			telemetry.StreamVersionBeforeKey.Int64(h.before),
			telemetry.CommandAttemptsKey.Int(h.attempts),
			telemetry.OutcomeKey.String(outcomeNames[o]))
		if err == nil {
			attrs = append(attrs, telemetry.StreamVersionAfterKey.Int64(after), telemetry.EventCountKey.Int(events))
		}
		h.span.SetAttributes(attrs...)
		if err != nil {
			h.span.RecordError(err)
			h.span.SetStatus(codes.Error, err.Error())
		}
	}
	h.span.End()
	if !h.start.IsZero() {
		h.c.duration.Record(h.ctx, since(h.start), a.metrics[o]...)
	}
}
