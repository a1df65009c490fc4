package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// requestRecords returns the "request" records among JSON log lines.
func requestRecords(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var records []map[string]any
	dec := json.NewDecoder(logs)
	for dec.More() {
		var rec map[string]any
		require.NoError(t, dec.Decode(&rec))
		if rec["msg"] == "request" {
			records = append(records, rec)
		}
	}
	return records
}

func TestRequestLog(t *testing.T) {
	newApp := func(logs *bytes.Buffer) (*slog.Logger, http.Handler) {
		logger := newLogger(logs)
		store := memory.New(memory.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
		return logger, (&sc.App{Store: store, Logger: logger}).Handler()
	}

	t.Run("WithTheRequestsTraceID", func(t *testing.T) {
		var logs bytes.Buffer
		logger, app := newApp(&logs)
		tp := sdktrace.NewTracerProvider()
		defer func() { _ = tp.Shutdown(t.Context()) }()
		srv := httptest.NewServer(serveApp(app, logger,
			otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{})))
		defer srv.Close()

		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/clients/ann/shopping-carts/current/product-items",
			strings.NewReader(`{"productId":"shoes","quantity":1}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode)

		res, err = http.Get(srv.URL + "/clients/ann/shopping-carts/nowhere")
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		records := requestRecords(t, &logs)
		require.Len(t, records, 2, "one record per request")
		post, get := records[0], records[1]
		assert.Equal(t, "INFO", post["level"])
		assert.Equal(t, "POST", post["method"])
		assert.Equal(t, "/clients/ann/shopping-carts/current/product-items", post["path"])
		assert.Equal(t, float64(http.StatusCreated), post["status"])
		assert.Positive(t, post["duration"])
		assert.Equal(t, traceID, post[telemetry.LogTraceIDKey], "the trace the request continues")
		assert.NotEmpty(t, post[telemetry.LogSpanIDKey])

		assert.Equal(t, "GET", get["method"])
		assert.Equal(t, "/clients/ann/shopping-carts/nowhere", get["path"])
		assert.Equal(t, float64(http.StatusNotFound), get["status"])
		assert.Regexp(t, "^[0-9a-f]{32}$", get[telemetry.LogTraceIDKey], "a new trace for a request without traceparent")
		assert.NotEqual(t, traceID, get[telemetry.LogTraceIDKey])
	})

	t.Run("WithoutASpan", func(t *testing.T) {
		var logs bytes.Buffer
		logger, app := newApp(&logs)
		srv := httptest.NewServer(logRequests(logger, app))
		defer srv.Close()
		res, err := http.Get(srv.URL + "/clients/ann/shopping-carts/current")
		require.NoError(t, err)
		_ = res.Body.Close()

		records := requestRecords(t, &logs)
		require.Len(t, records, 1)
		assert.Equal(t, "GET", records[0]["method"])
		assert.Equal(t, float64(http.StatusNotFound), records[0]["status"], "no open cart")
		assert.Contains(t, records[0], "duration")
		assert.NotContains(t, records[0], telemetry.LogTraceIDKey)
	})
}

func TestStatusWriter(t *testing.T) {
	for name, c := range map[string]struct {
		handler http.HandlerFunc
		want    int
	}{
		"Nothing":   {func(http.ResponseWriter, *http.Request) {}, http.StatusOK},
		"WriteOnly": {func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) }, http.StatusOK},
		"Status":    {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }, http.StatusTeapot},
		"EarlyHintsFirst": {func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, http.StatusAccepted},
		"Flushed": {func(w http.ResponseWriter, _ *http.Request) {
			require.NoError(t, http.NewResponseController(w).Flush(), "flushes reach the writer beneath")
		}, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			rec := httptest.NewRecorder()
			logRequests(newLogger(&logs), c.handler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
			records := requestRecords(t, &logs)
			require.Len(t, records, 1)
			assert.Equal(t, float64(c.want), records[0]["status"])
		})
	}
}
