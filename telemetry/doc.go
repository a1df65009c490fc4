// Package telemetry configures the OpenTelemetry instrumentation built into
// Emmett, and names what it records: spans, metrics, attributes, and the
// metadata fields that carry a trace from an append to the processors.
//
// Emmett uses the OpenTelemetry API only; the application chooses the SDK
// and the exporters. With no configuration the global providers are used
// (otel.SetTracerProvider, otel.SetMeterProvider): until the application
// installs an SDK nothing is recorded, and the cost is that of the API's
// no-op spans and instruments: about half a microsecond per command (5% of
// a command on the in-memory store, 2% on SQLite; see docs/performance.md).
// A Config hands other providers to one component, and Disabled turns a
// component's instrumentation off entirely, at no cost:
//
//	tel := telemetry.Config{TracerProvider: tp, MeterProvider: mp}
//	store := memory.New(memory.WithTelemetry(tel))
//	carts := command.NewDeciderHandler(store, decider, events, command.WithTelemetry(tel))
//	summary := projection.NewProjectionProcessor(store.Processors(), store.Source(), proj, projection.WithTelemetry(tel))
//
// # Traces
//
// A command handler's Handle is an emmett.command.handle span (command
// type, stream, versions before and after, events appended, attempts,
// outcome) with a child per step of each attempt: emmett.command.load,
// emmett.command.decide and emmett.command.append. The stores add
// emmett.store.append, emmett.store.read_stream and emmett.store.read_all
// (stream, event count, backend); reads are traced only inside a trace, so
// that a processor polling its source makes no spans of its own. Errors
// are recorded on the spans, with an error status.
//
// Each append writes the trace context it is made in (that of the
// emmett.store.append span) into every event's metadata, as W3C Trace
// Context fields (TraceParentField, TraceStateField; see InjectMetadata).
// A processor handles each batch of events in an emmett.processor.batch
// span, the root of a trace of its own, with a link to the span that
// appended each event: from the trace of an HTTP request, the links lead
// to the projections and reactions it caused, however late they ran. An
// event a processor's failure policy skips or parks is a span event of its
// batch (EventProcessorEventSkipped, EventProcessorEventParked), and the
// retry of a parked event is an emmett.processor.retry span, linked to the
// event's append.
//
// An HTTP server span per request is the job of the application's HTTP
// instrumentation (go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp,
// say): httpapi's command endpoints handle each command in the request's
// context, so the command's spans nest under the request's.
//
// # Metrics
//
// Durations are histograms in seconds: MetricCommandDuration (by command
// type and outcome), MetricStoreAppendDuration and MetricStoreReadDuration
// (by backend, operation and outcome), MetricProcessorBatchDuration (by
// processor and outcome). Counters count events: MetricStoreEventsAppended,
// MetricProcessorEventsProcessed, the events a processor skipped or parked
// (MetricProcessorEventsSkipped, MetricProcessorEventsParked), and the
// retries of parked events (MetricProcessorParkedRetries, by outcome).
// Observable gauges are read when the
// application's metric reader collects: a processor's lag,
// MetricProcessorLagEvents and MetricProcessorLagTime, and, for a
// PostgreSQL replication slot, the WAL it retains and how far its consumer
// is behind, MetricReplicationSlotRetainedWAL and MetricReplicationSlotLag
// (reported by every source of the slot, from its first use until its
// Close or DropSlot: aggregate them with max).
//
// # Logs
//
// Emmett logs through log/slog, with the logger the application gives
// (projection.WithLogger, httpapi.Problems.Logger). Without one it logs
// warnings and errors through slog's default logger, and nothing below.
// Every record carries the trace and span ids of the span it was logged
// in (see NewLogHandler); wrap the application's own logger with
// NewLogHandler for its records to carry them too.
package telemetry
