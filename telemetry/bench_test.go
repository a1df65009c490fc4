package telemetry_test

import (
	"context"
	"fmt"
	"github.com/emmett-go/emmett/eventstore"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/telemetry"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// benchVariant is one way of instrumenting the benchmarked command handler.
type benchVariant struct {
	name string
	cfg  func(b *testing.B) telemetry.Config
}

var benchVariants = []benchVariant{
	// baseline: instrumentation off by configuration, no work at all.
	{"baseline", func(*testing.B) telemetry.Config { return telemetry.Disabled() }},
	// off: the default, global providers, with no SDK installed.
	{"off", func(*testing.B) telemetry.Config { return telemetry.Config{} }},
	// metrics-only: no tracing, metrics through the SDK.
	{"metrics-only", func(b *testing.B) telemetry.Config {
		cfg := sdkConfig(b, sdktrace.NeverSample())
		cfg.TracerProvider = telemetry.Disabled().TracerProvider
		return cfg
	}},
	// sampled-out: an SDK whose sampler drops every trace, and metrics.
	{"sampled-out", func(b *testing.B) telemetry.Config { return sdkConfig(b, sdktrace.NeverSample()) }},
	// on: every span recorded and exported (to a discarding exporter,
	// through the batching processor an application uses), and metrics.
	{"on", func(b *testing.B) telemetry.Config { return sdkConfig(b, sdktrace.AlwaysSample()) }},
}

func sdkConfig(b *testing.B, sampler sdktrace.Sampler) telemetry.Config {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return telemetry.Config{TracerProvider: tp, MeterProvider: mp}
}

// benchHandler returns a function handling a cart command with a
// handler on a memory store, both instrumented with cfg: adding an item to
// a new cart (replay of an empty stream, decision, append of one event).
// Every 4096 commands it starts on a new store, so that the heap, and the
// garbage collector's work, stay the same however long the run.
func benchHandler(cfg telemetry.Config) func(ctx context.Context, i int) error {
	var carts *command.DeciderHandler[testdomain.Cart, testdomain.Command, testdomain.Event]
	return func(ctx context.Context, i int) error {
		if i%4096 == 0 {
			store := memory.New(memory.WithTelemetry(cfg))
			carts = command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events(), command.WithTelemetry(cfg))
		}
		return handleBench(ctx, carts, i)
	}
}

// sqliteHandler is benchHandler on a SQLite file with synchronous=NORMAL.
func sqliteHandler(b *testing.B, cfg telemetry.Config) func(ctx context.Context, i int) error {
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sqlite.SyncNormal), sqlite.WithTelemetry(cfg))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events(), command.WithTelemetry(cfg))
	return func(ctx context.Context, i int) error { return handleBench(ctx, carts, i) }
}

func handleBench(ctx context.Context, carts *command.DeciderHandler[testdomain.Cart, testdomain.Command, testdomain.Event], i int) error {
	id := strconv.Itoa(i)
	_, err := carts.Handle(ctx, testdomain.StreamName(id), testdomain.AddItem{
		CartID: id, ClientID: "ann", Now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Item: testdomain.Item{ProductID: "shoes", Quantity: 1, UnitPrice: 100},
	}, eventstore.WithMetadata(emmett.Metadata{CorrelationID: "bench"}))
	return err
}

// BenchmarkCommandTelemetry handles one command per iteration with each
// instrumentation variant.
func BenchmarkCommandTelemetry(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			handle := benchHandler(v.cfg(b))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := handle(ctx, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkCommandTelemetryRatio handles one command with each variant per
// iteration, in turns, timing each apart so that all see the same machine
// load, and reports each variant's time per command and its ratio to the
// baseline: on the memory store, and on SQLite.
func BenchmarkCommandTelemetryRatio(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) {
		ratios(b, func(cfg telemetry.Config) func(context.Context, int) error { return benchHandler(cfg) })
	})
	b.Run("store=sqlite", func(b *testing.B) {
		ratios(b, func(cfg telemetry.Config) func(context.Context, int) error { return sqliteHandler(b, cfg) })
	})
}

func ratios(b *testing.B, newHandler func(telemetry.Config) func(context.Context, int) error) {
	ctx := context.Background()
	handlers := make([]func(context.Context, int) error, len(benchVariants))
	for i, v := range benchVariants {
		handlers[i] = newHandler(v.cfg(b))
	}
	elapsed := make([]time.Duration, len(benchVariants))
	n := 0
	for b.Loop() {
		for k := range handlers {
			j := (k + n) % len(handlers) // rotate which goes first
			start := time.Now()
			if err := handlers[j](ctx, n); err != nil {
				b.Fatal(err)
			}
			elapsed[j] += time.Since(start)
		}
		n++
	}
	for i, v := range benchVariants {
		b.ReportMetric(float64(elapsed[i].Nanoseconds())/float64(n), v.name+"-ns/cmd")
		if i > 0 {
			b.ReportMetric(float64(elapsed[i])/float64(elapsed[0]), fmt.Sprintf("%s/baseline", v.name))
		}
	}
}
