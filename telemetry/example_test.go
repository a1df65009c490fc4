package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is enabled by giving the components a TracerProvider (and a
// MeterProvider for metrics), or by installing them globally with
// otel.SetTracerProvider and otel.SetMeterProvider, which the components
// use when given no Config. An application would export the spans with a
// batching exporter (OTLP, stdout); this example records them in memory and
// prints the tree of one command.
func Example() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(ctx) }()
	tel := telemetry.Config{TracerProvider: tp}

	store := memory.New(memory.WithTelemetry(tel))
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events(), command.WithTelemetry(tel))
	res, err := carts.Handle(ctx, testdomain.StreamName("c1"), testdomain.AddItem{
		CartID: "c1", ClientID: "ann", Now: time.Now(),
		Item: testdomain.Item{ProductID: "shoes", Quantity: 1, UnitPrice: 100},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	printTree(spans.Ended(), trace.SpanID{}, 0)
	sc := telemetry.SpanContextFromMetadata(res.Events[0].Metadata)
	fmt.Println("the event carries the trace:", sc.TraceID() == spans.Ended()[0].SpanContext().TraceID())
	// Output:
	// emmett.command.handle emmett.command.type=AddItem emmett.stream.version.after=1
	//   emmett.command.load
	//     emmett.store.read_stream
	//   emmett.command.decide
	//   emmett.command.append
	//     emmett.store.append
	// the event carries the trace: true
}

// printTree prints the spans under parent, in the order they started.
func printTree(spans []sdktrace.ReadOnlySpan, parent trace.SpanID, depth int) {
	slices.SortFunc(spans, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	for _, s := range spans {
		if s.Parent().SpanID() != parent {
			continue
		}
		line := strings.Repeat("  ", depth) + s.Name()
		for _, kv := range s.Attributes() {
			if kv.Key == telemetry.CommandTypeKey || (kv.Key == telemetry.StreamVersionAfterKey && s.Name() == telemetry.SpanCommandHandle) {
				line += " " + string(kv.Key) + "=" + kv.Value.Emit()
			}
		}
		fmt.Println(line)
		printTree(spans, s.SpanContext().SpanID(), depth+1)
	}
}

// Records logged in the context of a span carry its trace and span ids.
func ExampleNewLogHandler() {
	text := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	logger := slog.New(telemetry.NewLogHandler(text))

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))

	logger.InfoContext(ctx, "cart confirmed", "cart", "c1")
	logger.Info("no span here")
	// Output:
	// level=INFO msg="cart confirmed" cart=c1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
	// level=INFO msg="no span here"
}
