package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// rig is an application instrumented with the SDK's in-memory recorders.
type rig struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	tel    telemetry.Config
	store  *memory.Store
}

func newRig(t *testing.T, storeOpts ...memory.Option) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = r.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	r.tel = telemetry.Config{TracerProvider: r.tp, MeterProvider: mp}
	r.store = memory.New(append(storeOpts, memory.WithTelemetry(r.tel))...)
	return r
}

// api serves cart commands over HTTP, each request in a server
// span (the job of otelhttp in an application).
func (r *rig) api(opts ...command.Option) http.Handler {
	carts := command.NewDeciderHandler(r.store, testdomain.Decider(), testdomain.Events(), append(opts, command.WithTelemetry(r.tel))...)
	mux := http.NewServeMux()
	mux.Handle("POST /carts/{id}/items", httpapi.Command(carts, func(req *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
		var item testdomain.Item
		if err := httpapi.DecodeJSON(req, &item); err != nil {
			return httpapi.CommandRequest[testdomain.Command]{}, err
		}
		id := req.PathValue("id")
		return httpapi.CommandRequest[testdomain.Command]{Stream: testdomain.StreamName(id), Command: testdomain.AddItem{
			CartID: id, ClientID: "ann", Item: item, Now: time.Now().UTC(),
		}}, nil
	}))
	mux.Handle("/events/", http.StripPrefix("/events", httpapi.NewStreams(r.store, httpapi.AllowAppend())))
	mux.Handle("POST /carts/{id}/confirm", httpapi.Command(carts, func(req *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
		id := req.PathValue("id")
		return httpapi.CommandRequest[testdomain.Command]{Stream: testdomain.StreamName(id), Command: testdomain.ConfirmCart{CartID: id, Now: time.Now().UTC()}}, nil
	}))
	tracer := r.tp.Tracer("test/http")
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := propagation.TraceContext{}.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		req = req.WithContext(ctx)
		mux.ServeHTTP(w, req)
		span.SetName(req.Pattern)
	})
}

// post sends a request from a client span, and returns the response and
// the client span's context.
func (r *rig) post(t *testing.T, url, body string, header ...string) (*http.Response, trace.SpanContext) {
	t.Helper()
	ctx, span := r.tp.Tracer("test/client").Start(context.Background(), "client", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = res.Body.Close() })
	return res, span.SpanContext()
}

// ended waits for a span named name to end, and returns the ended spans.
func (r *rig) ended(t *testing.T, names ...string) []sdktrace.ReadOnlySpan {
	t.Helper()
	var spans []sdktrace.ReadOnlySpan
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans = r.spans.Ended()
		missing := 0
		for _, name := range names {
			if len(named(spans, name)) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return spans
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "spans not ended", "want %v, got %v", names, spanNames(spans))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	found := named(spans, name)
	require.Len(t, found, 1, "spans named %s", name)
	return found[0]
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]any {
	out := map[attribute.Key]any{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value.AsInterface()
	}
	return out
}

func assertChild(t *testing.T, parent, child sdktrace.ReadOnlySpan) {
	t.Helper()
	assert.Equal(t, parent.SpanContext().TraceID(), child.SpanContext().TraceID(), "%s in the trace of %s", child.Name(), parent.Name())
	assert.Equal(t, parent.SpanContext().SpanID(), child.Parent().SpanID(), "%s is a child of %s", child.Name(), parent.Name())
}

func (r *rig) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// key is the identity of a set of attributes.
func key(kv ...attribute.KeyValue) attribute.Distinct {
	s := attribute.NewSet(kv...)
	return s.Equivalent()
}

// histogramCounts returns the count of each data point of a histogram.
func histogramCounts(t *testing.T, m metricdata.Metrics) map[attribute.Distinct]uint64 {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a float histogram, not %T", m.Name, m.Data)
	out := map[attribute.Distinct]uint64{}
	for _, dp := range h.DataPoints {
		out[dp.Attributes.Equivalent()] = dp.Count
		assert.Positive(t, dp.Sum, "%s %v", m.Name, dp.Attributes)
	}
	return out
}

func sums(t *testing.T, m metricdata.Metrics) map[attribute.Distinct]int64 {
	t.Helper()
	s, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int sum, not %T", m.Name, m.Data)
	assert.True(t, s.IsMonotonic)
	out := map[attribute.Distinct]int64{}
	for _, dp := range s.DataPoints {
		out[dp.Attributes.Equivalent()] = dp.Value
	}
	return out
}

var (
	memoryBackend = telemetry.StoreBackendKey.String("memory")
	ok            = telemetry.OutcomeKey.String(telemetry.OutcomeOK)
)

// TestTraceFromHTTPToProjection follows one command from an HTTP client
// through the server, the command handler and the store, to the
// asynchronous projection that handles its event.
func TestTraceFromHTTPToProjection(t *testing.T) {
	r := newRig(t)
	srv := httptest.NewServer(r.api())
	defer srv.Close()
	var logs bytes.Buffer
	summary := projection.NewProjectionProcessor(r.store.Processors(), r.store.Source(), testdomain.ClientTotalsProjection(),
		projection.WithTelemetry(r.tel), projection.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- summary.Run(ctx) }()

	res, client := r.post(t, srv.URL+"/carts/c1/items", `{"productId":"shoes","quantity":2,"unitPrice":100}`)
	require.Equal(t, http.StatusCreated, res.StatusCode)
	var body httpapi.CommandResponse
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	pos, err := eventstore.ParsePosition(body.Position)
	require.NoError(t, err)
	require.NoError(t, summary.WaitFor(ctx, pos))

	spans := r.ended(t, "POST /carts/{id}/items", telemetry.SpanProcessorBatch)

	// The request's trace: client -> server -> handle -> load, decide,
	// append -> the store's read and append.
	server := one(t, spans, "POST /carts/{id}/items")
	assert.Equal(t, client.TraceID(), server.SpanContext().TraceID())
	assert.Equal(t, client.SpanID(), server.Parent().SpanID())
	handle := one(t, spans, telemetry.SpanCommandHandle)
	assertChild(t, server, handle)
	load, decide, appendStep := one(t, spans, telemetry.SpanCommandLoad), one(t, spans, telemetry.SpanCommandDecide), one(t, spans, telemetry.SpanCommandAppend)
	for _, step := range []sdktrace.ReadOnlySpan{load, decide, appendStep} {
		assertChild(t, handle, step)
	}
	assert.True(t, !load.EndTime().After(decide.StartTime()) && !decide.EndTime().After(appendStep.StartTime()), "load, decide, append in order")
	read := one(t, spans, telemetry.SpanStoreReadStream)
	assertChild(t, load, read)
	stored := one(t, spans, telemetry.SpanStoreAppend)
	assertChild(t, appendStep, stored)

	assert.Equal(t, map[attribute.Key]any{
		telemetry.CommandTypeKey:         "AddItem",
		telemetry.StreamNameKey:          "cart-c1",
		telemetry.StreamVersionBeforeKey: int64(0),
		telemetry.StreamVersionAfterKey:  int64(1),
		telemetry.EventCountKey:          int64(1),
		telemetry.CommandAttemptsKey:     int64(1),
		telemetry.OutcomeKey:             "ok",
	}, attrs(handle))
	assert.Equal(t, codes.Unset, handle.Status().Code)
	assert.Equal(t, "github.com/emmett-go/emmett/command", handle.InstrumentationScope().Name)
	assert.Equal(t, map[attribute.Key]any{
		telemetry.StoreBackendKey:          "memory",
		telemetry.StreamNameKey:            "cart-c1",
		telemetry.EventCountKey:            int64(1),
		telemetry.StreamExpectedVersionKey: "0",
		telemetry.StreamVersionAfterKey:    int64(1),
		telemetry.OutcomeKey:               "ok",
	}, attrs(stored))
	assert.Equal(t, map[attribute.Key]any{
		telemetry.StoreBackendKey: "memory",
		telemetry.StreamNameKey:   "cart-c1",
		telemetry.EventCountKey:   int64(0),
	}, attrs(read))
	assert.Equal(t, "github.com/emmett-go/emmett/eventstore/memory", stored.InstrumentationScope().Name)
	assert.Empty(t, named(spans, telemetry.SpanStoreReadAll), "a processor's polls are not traced")

	// The event carries the trace context of the append.
	var event emmett.RecordedEvent
	for e, err := range r.store.ReadStream(context.Background(), "cart-c1") {
		require.NoError(t, err)
		event = e
	}
	assert.Equal(t, fmt.Sprintf("00-%s-%s-01", stored.SpanContext().TraceID(), stored.SpanContext().SpanID()), event.Metadata.Fields[telemetry.TraceParentField])

	// The projection's batch: a trace of its own, linked to the append.
	batch := one(t, spans, telemetry.SpanProcessorBatch)
	assert.False(t, batch.Parent().IsValid(), "a batch is a root")
	assert.NotEqual(t, client.TraceID(), batch.SpanContext().TraceID())
	assert.Equal(t, trace.SpanKindConsumer, batch.SpanKind())
	assert.Equal(t, map[attribute.Key]any{
		telemetry.ProcessorIDKey:    testdomain.ClientTotalsProjection().Name(),
		telemetry.EventCountKey:     int64(1),
		telemetry.CheckpointFromKey: "0",
		telemetry.CheckpointToKey:   "1",
		telemetry.BatchAttemptsKey:  int64(1),
	}, attrs(batch))
	require.Len(t, batch.Links(), 1)
	link := batch.Links()[0].SpanContext
	assert.Equal(t, client.TraceID(), link.TraceID(), "the link leads to the request's trace")
	assert.Equal(t, stored.SpanContext().SpanID(), link.SpanID(), "to the span that appended the event")
	assert.True(t, link.IsRemote())

	// Metrics.
	m := r.collect(t)
	cmd := m[telemetry.MetricCommandDuration]
	assert.Equal(t, "s", cmd.Unit)
	assert.Equal(t, map[attribute.Distinct]uint64{
		key(telemetry.CommandTypeKey.String("AddItem"), ok): 1,
	}, histogramCounts(t, cmd))
	assert.Equal(t, map[attribute.Distinct]uint64{key(memoryBackend, ok): 1},
		histogramCounts(t, m[telemetry.MetricStoreAppendDuration]))
	assert.Equal(t, map[attribute.Distinct]int64{key(memoryBackend): 1}, sums(t, m[telemetry.MetricStoreEventsAppended]))
	assert.Equal(t, "{event}", m[telemetry.MetricStoreEventsAppended].Unit)
	reads := histogramCounts(t, m[telemetry.MetricStoreReadDuration])
	assert.Equal(t, uint64(2), reads[key(memoryBackend, telemetry.StoreOperationKey.String("read_stream"), ok)], "the command's load and the test's read")
	assert.Positive(t, reads[key(memoryBackend, telemetry.StoreOperationKey.String("read_all"), ok)], "the processor's polls")
	processor := telemetry.ProcessorIDKey.String(testdomain.ClientTotalsProjection().Name())
	assert.Equal(t, map[attribute.Distinct]uint64{key(processor, ok): 1},
		histogramCounts(t, m[telemetry.MetricProcessorBatchDuration]))
	assert.Equal(t, map[attribute.Distinct]int64{key(processor): 1}, sums(t, m[telemetry.MetricProcessorEventsProcessed]))
	lag, isGauge := m[telemetry.MetricProcessorLagEvents].Data.(metricdata.Gauge[int64])
	require.True(t, isGauge)
	require.Len(t, lag.DataPoints, 1)
	assert.Equal(t, int64(0), lag.DataPoints[0].Value, "caught up")
	assert.Equal(t, key(processor), lag.DataPoints[0].Attributes.Equivalent())

	cancel()
	require.NoError(t, <-done)
	assert.Empty(t, logs.String(), "nothing to log")
	_, stillObserved := r.collect(t)[telemetry.MetricProcessorLagEvents]
	assert.False(t, stillObserved, "a stopped processor reports no lag")
}

// TestErrorsAreRecorded checks rejected commands, conflicts and retries.
func TestErrorsAreRecorded(t *testing.T) {
	r := newRig(t)
	srv := httptest.NewServer(r.api())
	defer srv.Close()

	t.Run("Rejected", func(t *testing.T) {
		res, _ := r.post(t, srv.URL+"/carts/none/confirm", "")
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		spans := r.ended(t, "POST /carts/{id}/confirm")
		handle := one(t, spans, telemetry.SpanCommandHandle)
		assert.Equal(t, codes.Error, handle.Status().Code)
		assert.Equal(t, testdomain.ErrCartNotOpen.Error(), handle.Status().Description)
		a := attrs(handle)
		assert.Equal(t, "rejected", a[telemetry.OutcomeKey])
		assert.Equal(t, "ConfirmCart", a[telemetry.CommandTypeKey])
		assert.NotContains(t, a, telemetry.StreamVersionAfterKey)
		decide := one(t, spans, telemetry.SpanCommandDecide)
		assert.Equal(t, codes.Error, decide.Status().Code)
		require.Len(t, decide.Events(), 1)
		assert.Equal(t, "exception", decide.Events()[0].Name)
		assert.Empty(t, named(spans, telemetry.SpanCommandAppend), "nothing to append")

		counts := histogramCounts(t, r.collect(t)[telemetry.MetricCommandDuration])
		assert.Equal(t, uint64(1), counts[key(telemetry.CommandTypeKey.String("ConfirmCart"), telemetry.OutcomeKey.String("rejected"))])
	})
	t.Run("StaleVersion", func(t *testing.T) {
		r.spans.Reset()
		res, _ := r.post(t, srv.URL+"/carts/c2/items", `{"productId":"shoes","quantity":1,"unitPrice":100}`)
		require.Equal(t, http.StatusCreated, res.StatusCode)
		res, _ = r.post(t, srv.URL+"/carts/c2/items", `{"productId":"shoes","quantity":1,"unitPrice":100}`, "If-Match", `W/"0"`)
		require.Equal(t, http.StatusPreconditionFailed, res.StatusCode)
		require.Eventually(t, func() bool { return len(named(r.spans.Ended(), "POST /carts/{id}/items")) == 2 }, 5*time.Second, 5*time.Millisecond)
		handles := named(r.spans.Ended(), telemetry.SpanCommandHandle)
		require.Len(t, handles, 2)
		conflict := handles[1]
		assert.Equal(t, codes.Error, conflict.Status().Code)
		assert.Equal(t, "conflict", attrs(conflict)[telemetry.OutcomeKey])
		assert.Equal(t, int64(1), attrs(conflict)[telemetry.StreamVersionBeforeKey])
	})
}

// TestAppendEndpointCarriesTheTrace checks that appends made without a
// command handler carry their trace too: the store writes it.
func TestAppendEndpointCarriesTheTrace(t *testing.T) {
	r := newRig(t)
	srv := httptest.NewServer(r.api())
	defer srv.Close()
	res, client := r.post(t, srv.URL+"/events/streams/orders-1", `[{"type":"OrderPlaced","data":{"id":1},"metadata":{"tenant":"t"}}]`)
	require.Equal(t, http.StatusCreated, res.StatusCode)
	spans := r.ended(t, "/events/")
	stored := one(t, spans, telemetry.SpanStoreAppend)
	assertChild(t, one(t, spans, "/events/"), stored)
	assert.Equal(t, client.TraceID(), stored.SpanContext().TraceID())
	for e, err := range r.store.ReadStream(context.Background(), "orders-1") {
		require.NoError(t, err)
		assert.Equal(t, map[string]any{
			"tenant":                   "t",
			telemetry.TraceParentField: fmt.Sprintf("00-%s-%s-01", client.TraceID(), stored.SpanContext().SpanID()),
		}, e.Metadata.Fields)
	}
}

// racing makes the first append of each command lose a race.
type racing struct {
	*memory.Store
	raced atomic.Bool
}

func (s *racing) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	if !s.raced.Swap(true) {
		data, _ := eventstore.Encode(testdomain.Events(), []testdomain.Event{testdomain.ItemAdded{CartID: "c3", ClientID: "ann",
			Item: testdomain.Item{ProductID: "hat", Quantity: 1, UnitPrice: 25}}}, emmett.Metadata{})
		if _, err := s.Store.AppendToStream(context.Background(), stream, data); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return s.Store.AppendToStream(ctx, stream, events, opts...)
}

func TestRetriedCommand(t *testing.T) {
	r := newRig(t)
	carts := command.NewDeciderHandler(&racing{Store: r.store}, testdomain.Decider(), testdomain.Events(), command.WithTelemetry(r.tel))
	res, err := carts.Handle(context.Background(), testdomain.StreamName("c3"), testdomain.AddItem{CartID: "c3", ClientID: "ann",
		Item: testdomain.Item{ProductID: "shoes", Quantity: 1, UnitPrice: 100}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.NextExpectedVersion)

	spans := r.spans.Ended()
	handle := one(t, spans, telemetry.SpanCommandHandle)
	assert.Equal(t, codes.Unset, handle.Status().Code)
	a := attrs(handle)
	assert.Equal(t, int64(2), a[telemetry.CommandAttemptsKey])
	assert.Equal(t, int64(1), a[telemetry.StreamVersionBeforeKey], "the version of the attempt that won")
	assert.Equal(t, int64(2), a[telemetry.StreamVersionAfterKey])
	steps := named(spans, telemetry.SpanCommandAppend)
	require.Len(t, steps, 2)
	assert.Equal(t, codes.Error, steps[0].Status().Code, "the first append lost the race")
	assert.Equal(t, codes.Unset, steps[1].Status().Code)
	var outcomes []any
	for _, s := range named(spans, telemetry.SpanStoreAppend) {
		if s.Parent().IsValid() {
			outcomes = append(outcomes, attrs(s)[telemetry.OutcomeKey])
		}
	}
	assert.Equal(t, []any{"conflict", "ok"}, outcomes)

	counts := histogramCounts(t, r.collect(t)[telemetry.MetricStoreAppendDuration])
	assert.Equal(t, uint64(1), counts[key(memoryBackend, telemetry.OutcomeKey.String("conflict"))])
	assert.Equal(t, uint64(2), counts[key(memoryBackend, ok)], "the racing append (untraced) and the retry")
}

// TestProcessorLagRetriesAndLogs runs a reactor that is held on an event,
// fails once on another, and logs.
func TestProcessorLagRetriesAndLogs(t *testing.T) {
	stamped := time.Now().Add(-time.Minute)
	r := newRig(t, memory.WithClock(func() time.Time { return stamped }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	appendOne := func(stream string) eventstore.Position {
		t.Helper()
		res, err := r.store.AppendToStream(ctx, stream, []eventstore.EventData{{Type: "Noted", Data: []byte(`{}`)}})
		require.NoError(t, err)
		return res.Position
	}

	hold, held := make(chan struct{}), make(chan struct{})
	var failed atomic.Bool
	var once sync.Once
	var logs bytes.Buffer
	var logsMu sync.Mutex
	reactor := projection.NewReactorProcessor(r.store.Processors(), r.store.Source(), "notifier", nil,
		func(ctx context.Context, e emmett.RecordedEvent) error {
			switch e.StreamName {
			case "held":
				once.Do(func() { close(held) })
				<-hold
			case "flaky":
				if !failed.Swap(true) {
					return errors.New("flaky failure")
				}
			}
			return nil
		},
		projection.WithTelemetry(r.tel), projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond}),
		projection.WithLogger(slog.New(slog.NewJSONHandler(lockedWriter{&logsMu, &logs}, nil))))
	done := make(chan error, 1)
	go func() { done <- reactor.Run(ctx) }()

	first := appendOne("first")
	require.NoError(t, reactor.WaitFor(ctx, first))
	appendOne("held")
	<-held
	appendOne("later")
	appendOne("later")

	lag := r.collect(t)
	events := lag[telemetry.MetricProcessorLagEvents].Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, events, 1)
	assert.Equal(t, int64(3), events[0].Value, "3 events behind")
	behind := lag[telemetry.MetricProcessorLagTime].Data.(metricdata.Gauge[float64]).DataPoints
	require.Len(t, behind, 1)
	assert.GreaterOrEqual(t, behind[0].Value, 60.0, "the last event processed was stored a minute ago")
	assert.Equal(t, "s", lag[telemetry.MetricProcessorLagTime].Unit)
	close(hold)

	flaky := appendOne("flaky")
	require.NoError(t, reactor.WaitFor(ctx, flaky))
	lag = r.collect(t)
	assert.Equal(t, int64(0), lag[telemetry.MetricProcessorLagEvents].Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
	assert.Equal(t, 0.0, lag[telemetry.MetricProcessorLagTime].Data.(metricdata.Gauge[float64]).DataPoints[0].Value)

	// WaitFor returns once the checkpoint moves, which may be just before
	// the batch's span ends: wait for that span, not any batch span.
	var retried sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range named(r.spans.Ended(), telemetry.SpanProcessorBatch) {
			if attrs(s)[telemetry.BatchAttemptsKey] == int64(2) {
				retried = s
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "the batch that failed once")
	assert.Equal(t, codes.Unset, retried.Status().Code, "it succeeded in the end")
	require.Len(t, retried.Events(), 1)
	assert.Equal(t, "exception", retried.Events()[0].Name)

	logsMu.Lock()
	var record map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &record), logs.String())
	logsMu.Unlock()
	assert.Equal(t, "retrying batch", record["msg"])
	assert.Equal(t, retried.SpanContext().TraceID().String(), record[telemetry.LogTraceIDKey])
	assert.Equal(t, retried.SpanContext().SpanID().String(), record[telemetry.LogSpanIDKey])

	cancel()
	require.NoError(t, <-done)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
