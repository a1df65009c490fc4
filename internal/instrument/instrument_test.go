package instrument_test

import (
	"bytes"
	"context"
	"iter"
	"log/slog"
	"reflect"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type backend struct{ events []emmett.RecordedEvent }

func (b *backend) append(_ context.Context, _ string, events []eventstore.EventData, _ ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{NextExpectedVersion: int64(len(events))}, nil
}

func (b *backend) read(context.Context, string, ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return func(yield func(emmett.RecordedEvent, error) bool) {
		for _, e := range b.events {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// opaqueRead is the backend's read as a store's ReadStream method returns
// it, without inlining into the caller.
//
//go:noinline
func opaqueRead(ctx context.Context, b *backend) iter.Seq2[emmett.RecordedEvent, error] {
	return b.read(ctx, "s-1")
}

func TestDisabledAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	s := instrument.NewStore(telemetry.Disabled(), "test", "test", trace.SpanKindInternal)
	b := &backend{events: make([]emmett.RecordedEvent, 3)}
	events := []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}}
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = instrument.Append(ctx, s, b, "s-1", events, nil, (*backend).append)
	})
	assert.Zero(t, allocs, "append")
	allocs = testing.AllocsPerRun(100, func() {
		for range instrument.ReadStream(ctx, s, b, "s-1", nil, (*backend).read) {
		}
	}) - testing.AllocsPerRun(100, func() {
		for range opaqueRead(ctx, b) {
		}
	})
	assert.Zero(t, allocs, "a read is the backend's own, nothing more")

	c := instrument.NewCommand(telemetry.Disabled(), "test")
	typ := reflect.TypeFor[int]()
	allocs = testing.AllocsPerRun(100, func() {
		ctx, op := c.Start(ctx, typ, "s-1")
		op.Attempt()
		_, span := op.Step(ctx, "step")
		instrument.EndSpan(span, nil)
		op.End(1, 1, nil)
	})
	assert.Zero(t, allocs, "command")

	var nilStore *instrument.Store
	_, err := instrument.Append(ctx, nilStore, b, "s-1", events, nil, (*backend).append)
	assert.NoError(t, err, "a nil Store instruments nothing")
}

func TestCommandType(t *testing.T) {
	type Cmd struct{}
	type Generic[T any] struct{}
	var none interface{ isCmd() }
	assert.Nil(t, instrument.CommandType(none))
	assert.Equal(t, "Cmd", instrument.TypeName(instrument.CommandType(Cmd{})))
	assert.Equal(t, "Cmd", instrument.TypeName(instrument.CommandType(&Cmd{})))
	assert.Equal(t, "Cmd", instrument.TypeName(instrument.CommandType[any](Cmd{})), "the dynamic type of an interface")
	assert.Equal(t, "Generic[int]", instrument.TypeName(instrument.CommandType(Generic[int]{})))
	assert.Equal(t, "func(int) error", instrument.TypeName(instrument.CommandType(func(int) error { return nil })))
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)

	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()

	l := instrument.Logger(nil)
	l.InfoContext(ctx, "info is dropped by default")
	l.WarnContext(ctx, "warnings pass")
	assert.NotContains(t, buf.String(), "dropped")
	assert.Contains(t, buf.String(), "warnings pass")
	assert.Contains(t, buf.String(), "trace_id="+span.SpanContext().TraceID().String())

	buf.Reset()
	mine := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	instrument.Logger(mine).DebugContext(ctx, "the user's level rules")
	assert.Contains(t, buf.String(), "the user's level rules")
	assert.Contains(t, buf.String(), "span_id="+span.SpanContext().SpanID().String())
}
