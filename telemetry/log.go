package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// NewLogHandler returns a handler that adds the trace and span ids of the
// span active in a record's context (LogTraceIDKey, LogSpanIDKey) to each
// record, and passes it to h. Records logged without a context, or in a
// context without a valid span context, pass unchanged. Log with the
// context variants (InfoContext, LogAttrs, …) for the ids to be found.
//
// Emmett wraps the loggers it is given with it, so that what it logs can be
// found from a trace; wrap the application's own logger with it to do the
// same. Wrapping a handler it returned returns that handler, so the ids are
// never added twice. Like every attribute, the ids go into the groups the
// logger has opened with WithGroup.
func NewLogHandler(h slog.Handler) slog.Handler {
	if t, ok := h.(logHandler); ok {
		return t
	}
	return logHandler{h}
}

type logHandler struct{ next slog.Handler }

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String(LogTraceIDKey, sc.TraceID().String()), slog.String(LogSpanIDKey, sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.next.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.next.WithGroup(name)} }
