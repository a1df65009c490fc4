package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestSQLiteStore checks the instrumentation that the SQLite backend gets
// from the shared helper: the same spans, attributes and trace context in
// metadata as the memory store's.
func TestSQLiteStore(t *testing.T) {
	testBackend(t, "sqlite", func(cfg telemetry.Config) (eventstore.Store, error) {
		return sqlite.Open(context.Background(), ":memory:", sqlite.WithTelemetry(cfg))
	})
}

// TestPostgresStore is TestSQLiteStore for PostgreSQL.
func TestPostgresStore(t *testing.T) {
	url := pgtest.NewDatabase(t)
	testBackend(t, "postgres", func(cfg telemetry.Config) (eventstore.Store, error) {
		return postgres.Open(context.Background(), url, postgres.WithTelemetry(cfg))
	})
}

func testBackend(t *testing.T, backend string, open func(telemetry.Config) (eventstore.Store, error)) {
	ctx := context.Background()
	spans, reader := tracetest.NewSpanRecorder(), sdkmetric.NewManualReader()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	store, err := open(telemetry.Config{TracerProvider: tp, MeterProvider: mp})
	require.NoError(t, err)
	defer func() { _ = store.(io.Closer).Close() }()

	traced, span := tp.Tracer("test").Start(ctx, "request")
	_, err = store.AppendToStream(traced, "orders-1", []eventstore.EventData{{Type: "OrderPlaced", Data: []byte(`{}`)}}, eventstore.ExpectNoStream())
	require.NoError(t, err)
	_, err = store.AppendToStream(traced, "orders-1", []eventstore.EventData{{Type: "OrderPlaced", Data: []byte(`{}`)}}, eventstore.ExpectNoStream())
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
	var n int
	for e, err := range store.ReadStream(traced, "orders-1") {
		require.NoError(t, err)
		n++
		stored := named(spans.Ended(), telemetry.SpanStoreAppend)[0]
		assert.Equal(t, fmt.Sprintf("00-%s-%s-01", stored.SpanContext().TraceID(), stored.SpanContext().SpanID()), e.Metadata.Fields[telemetry.TraceParentField])
	}
	require.Equal(t, 1, n)
	for _, err := range store.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(t, err)
	}
	n = 0
	for _, err := range store.ReadAll(traced, eventstore.Position{}) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 1, n)
	span.End()

	ended := spans.Ended()
	appends := named(ended, telemetry.SpanStoreAppend)
	require.Len(t, appends, 2)
	assert.Equal(t, map[attribute.Key]any{
		telemetry.StoreBackendKey:          backend,
		telemetry.StreamNameKey:            "orders-1",
		telemetry.EventCountKey:            int64(1),
		telemetry.StreamExpectedVersionKey: "no_stream",
		telemetry.OutcomeKey:               "ok",
		telemetry.StreamVersionAfterKey:    int64(1),
	}, attrs(appends[0]))
	assert.Equal(t, "conflict", attrs(appends[1])[telemetry.OutcomeKey])
	assert.Equal(t, codes.Error, appends[1].Status().Code)
	assert.Equal(t, "github.com/emmett-go/emmett/eventstore/"+backend, appends[0].InstrumentationScope().Name)
	read := one(t, ended, telemetry.SpanStoreReadStream)
	assert.Equal(t, int64(1), attrs(read)[telemetry.EventCountKey])
	readAll := one(t, ended, telemetry.SpanStoreReadAll) // the traced one only: a read outside a trace makes no span
	assert.Equal(t, span.SpanContext().SpanID(), readAll.Parent().SpanID())
	assert.Equal(t, int64(1), attrs(readAll)[telemetry.EventCountKey])
	assert.Equal(t, backend, attrs(readAll)[telemetry.StoreBackendKey])

	m := (&rig{reader: reader}).collect(t)
	assert.Equal(t, map[attribute.Distinct]int64{key(telemetry.StoreBackendKey.String(backend)): 1}, sums(t, m[telemetry.MetricStoreEventsAppended]))
	reads := histogramCounts(t, m[telemetry.MetricStoreReadDuration])
	assert.Equal(t, uint64(2), reads[key(telemetry.StoreBackendKey.String(backend), telemetry.StoreOperationKey.String("read_all"), ok)], "both measured, though one not traced")
}
