package projection_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// logLines is a log's JSON lines, safe for concurrent writes.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// find returns the record whose message is msg.
func (l *logLines) find(t *testing.T, msg string) map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.SplitSeq(strings.TrimSpace(l.buf.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("no record %q in the log:\n%s", msg, l.buf.String())
	return nil
}

// A parked event is a span event of its batch and logged in the batch's
// trace; its retry is a span of its own, and logged in its trace.
func TestParkAndRetryAreTracedAndLogged(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tel := telemetry.Config{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))}
	var log logLines
	logger := slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	store := memory.New()
	var mended atomic.Bool
	mailer := projection.NewReactorProcessor(store.Processors(), store.Source(), "mailer", []string{"CartConfirmed"},
		func(ctx context.Context, e emmett.RecordedEvent) error {
			if !mended.Load() {
				return errors.New("mailbox unavailable")
			}
			return nil
		},
		projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}),
		projection.WithLogger(logger), projection.WithTelemetry(tel))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mailer.Run(runCtx) }()
	defer func() {
		stop()
		require.NoError(t, <-done)
	}()

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, mailer.WaitFor(wctx, appendCart(ctx, store, "cart-1", CartConfirmed{})))
	var batch sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool { // the span ends once the checkpoint has moved
		for _, s := range spans.Ended() {
			if s.Name() == telemetry.SpanProcessorBatch {
				batch = s
			}
		}
		return batch != nil
	}, 10*time.Second, time.Millisecond, "the batch is traced")
	require.Len(t, batch.Events(), 1)
	assert.Equal(t, telemetry.EventProcessorEventParked, batch.Events()[0].Name)
	parkedLog := log.find(t, "processor parked an event its handler kept failing on")
	assert.Equal(t, batch.SpanContext().TraceID().String(), parkedLog[telemetry.LogTraceIDKey], "logged in the batch's trace")
	assert.Equal(t, "mailbox unavailable", parkedLog["error"])

	parked, err := mailer.Parked(ctx)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	mended.Store(true)
	require.NoError(t, mailer.RetryParked(wctx, parked[0].ID))
	var retry sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == telemetry.SpanProcessorRetry {
			retry = s
		}
	}
	require.NotNil(t, retry, "the retry is traced")
	assert.Contains(t, retry.Attributes(), telemetry.ParkedIDKey.Int64(parked[0].ID))
	assert.NotEqual(t, batch.SpanContext().TraceID(), retry.SpanContext().TraceID(), "a trace of its own")
	retriedLog := log.find(t, "parked event retried and applied")
	assert.Equal(t, retry.SpanContext().TraceID().String(), retriedLog[telemetry.LogTraceIDKey], "logged in the retry's trace")
}
