package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// setenv sets the variables for the rest of the test, and clears the
// other OTEL_ variables the setup reads.
func setenv(t *testing.T, vars map[string]string) {
	for _, name := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SERVICE_NAME",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"} {
		t.Setenv(name, vars[name])
	}
}

func setup(t *testing.T, vars map[string]string, stdout io.Writer) (func(context.Context) error, error) {
	setenv(t, vars)
	return setupTelemetryTo(context.Background(), stdout)
}

// handleOne runs a command through a handler built now, on the global
// providers.
func handleOne(t *testing.T) {
	t.Helper()
	carts := command.NewDeciderHandler(memory.New(), sc.Decider(), sc.Events())
	_, err := carts.Handle(context.Background(), sc.StreamName("c1"), sc.AddProductItemToShoppingCart{
		ShoppingCartID: "c1", ClientID: "ann", Now: time.Now(),
		ProductItem: sc.PricedProductItem{ProductID: "shoes", Quantity: 1, UnitPrice: sc.EUR(100)},
	})
	require.NoError(t, err)
}

func TestSetupTelemetry(t *testing.T) {
	ctx := context.Background()
	t.Run("NoneByDefault", func(t *testing.T) {
		before := otel.GetTracerProvider()
		shutdown, err := setup(t, nil, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, before, otel.GetTracerProvider(), "the global providers are left alone")
		assert.NoError(t, shutdown(ctx))
	})
	t.Run("Refusals", func(t *testing.T) {
		for _, vars := range []map[string]string{
			{"OTEL_TRACES_EXPORTER": "zipkin"},
			{"OTEL_METRICS_EXPORTER": "prometheus"},
			{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		} {
			_, err := setup(t, vars, io.Discard)
			assert.Error(t, err, "%v", vars)
		}
		shutdown, err := setup(t, map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "zipkin"}, io.Discard)
		assert.NoError(t, err, "disabled: nothing is read")
		assert.NoError(t, shutdown(ctx))
	})
	t.Run("Console", func(t *testing.T) {
		var out bytes.Buffer
		shutdown, err := setup(t, map[string]string{
			"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "console", "OTEL_SERVICE_NAME": "carts-test",
		}, &out)
		require.NoError(t, err)
		_, isSDK := otel.GetTracerProvider().(*sdktrace.TracerProvider)
		assert.True(t, isSDK)
		handleOne(t)
		require.NoError(t, shutdown(ctx))
		for _, want := range []string{telemetry.SpanCommandHandle, telemetry.SpanStoreAppend, telemetry.MetricCommandDuration, `"carts-test"`} {
			assert.Contains(t, out.String(), want)
		}
	})
	t.Run("OTLP", func(t *testing.T) {
		var mu sync.Mutex
		got := map[string]int{}
		collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[r.URL.Path] += len(body)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		defer collector.Close()
		shutdown, err := setup(t, map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		}, io.Discard)
		require.NoError(t, err)
		handleOne(t)
		require.NoError(t, shutdown(ctx))
		mu.Lock()
		defer mu.Unlock()
		assert.Positive(t, got["/v1/traces"], "spans exported")
		assert.Positive(t, got["/v1/metrics"], "metrics exported")
	})
}

func TestInstrumentHandler(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	shutdown, err := setup(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, &out)
	require.NoError(t, err)
	var logs bytes.Buffer
	store := memory.New(memory.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	app := &sc.App{Store: store, Logger: newLogger(&logs)}
	srv := httptest.NewServer(instrumentHandler(app.Handler()))
	defer srv.Close()

	res, err := http.Post(srv.URL+"/clients/ann/shopping-carts/current/product-items", "application/json", strings.NewReader(`{"productId":"shoes","quantity":1}`))
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	require.NoError(t, shutdown(ctx))
	type span struct {
		Name        string
		SpanContext struct{ TraceID, SpanID string }
		Parent      struct{ TraceID, SpanID string }
	}
	spans := map[string]span{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var s span
		require.NoError(t, dec.Decode(&s))
		spans[s.Name] = s
	}
	server, ok := spans["POST /clients/{clientId}/shopping-carts/current/product-items"]
	require.True(t, ok, "the server span, named by its route: %v", spans)
	handle := spans[telemetry.SpanCommandHandle]
	assert.Equal(t, server.SpanContext, handle.Parent, "the command's span nests under the request's")
}
