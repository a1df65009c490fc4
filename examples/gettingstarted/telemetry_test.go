package gettingstarted

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The guide's telemetry: one Config for the store, the command handler and
// the processor, and a logger whose records carry the trace ids.
func TestTelemetry(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bank.db")
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	tel := telemetry.Config{TracerProvider: tp, MeterProvider: mp}
	logger := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(os.Stderr, nil)))

	store, err := sqlite.Open(ctx, path, sqlite.WithProjections(Balances()), sqlite.WithTelemetry(tel))
	require.NoError(t, err)
	defer store.Close()
	accounts := command.NewDeciderHandler(store, Decider(), Events(), command.WithTelemetry(tel))
	processor := projection.NewProjectionProcessor(store.Processors(), store.Source(), BankTotals(),
		projection.WithTelemetry(tel), projection.WithLogger(logger))

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- processor.Run(runCtx) }()
	res, err := accounts.Handle(ctx, "account-42", Deposit{Amount: 100})
	require.NoError(t, err)
	require.NoError(t, processor.WaitFor(ctx, res.Position))
	stop()
	require.NoError(t, <-done)

	names := map[string]bool{}
	for _, s := range spans.Ended() {
		names[s.Name()] = true
	}
	for _, name := range []string{telemetry.SpanCommandHandle, telemetry.SpanCommandAppend, telemetry.SpanStoreAppend, telemetry.SpanProcessorBatch} {
		assert.True(t, names[name], "span %s", name)
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	metrics := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			metrics[m.Name] = true
		}
	}
	for _, name := range []string{telemetry.MetricCommandDuration, telemetry.MetricStoreEventsAppended, telemetry.MetricProcessorBatchDuration} {
		assert.True(t, metrics[name], "metric %s", name)
	}
}
