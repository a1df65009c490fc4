package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// serveApp is the app's handler as the server runs it: each request in a
// server span (instrumentHandler, with opts), and logged by logRequests
// inside that span, so that its record carries the span's trace id.
func serveApp(app http.Handler, logger *slog.Logger, opts ...otelhttp.Option) http.Handler {
	return instrumentHandler(logRequests(logger, app), opts...)
}

// logRequests logs each request h serves, once h has answered it, at level
// Info: "request", with its method, path, status and duration, and the
// trace and span ids of the request's OpenTelemetry span when it has one
// (telemetry.LogTraceIDKey, telemetry.LogSpanIDKey). A request whose
// handler panics is not logged here; the server logs the panic.
func logRequests(logger *slog.Logger, h http.Handler) http.Handler {
	logger = slog.New(telemetry.NewLogHandler(logger.Handler()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.statusCode()),
			slog.Duration("duration", time.Since(start)))
	})
}

// statusWriter records the status of the response written through it.
// Unwrap lets http.ResponseController reach the writer beneath (flushes
// of the live event streams, write deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first final status (1xx responses are not).
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records 200 when nothing was written before, as net/http sends.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the writer beneath, if it can.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the writer beneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusCode is the status sent: 200 when the handler wrote nothing.
func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
