package telemetry

import "go.opentelemetry.io/otel/attribute"

// Span names. Every span Emmett starts has one of these names.
const (
	// SpanCommandHandle covers the handling of one command, retries
	// included. Its children are SpanCommandLoad, SpanCommandDecide and
	// SpanCommandAppend, once per attempt.
	SpanCommandHandle = "emmett.command.handle"
	// SpanCommandLoad covers the replay of the stream's events into the
	// state the command is decided on.
	SpanCommandLoad = "emmett.command.load"
	// SpanCommandDecide covers the decision (the domain's own code).
	SpanCommandDecide = "emmett.command.decide"
	// SpanCommandAppend covers the append of the decided events.
	SpanCommandAppend = "emmett.command.append"
	// SpanStoreAppend covers Store.AppendToStream.
	SpanStoreAppend = "emmett.store.append"
	// SpanStoreReadStream covers the iteration of Store.ReadStream, from
	// its first event to its end (the caller's loop body included).
	SpanStoreReadStream = "emmett.store.read_stream"
	// SpanStoreReadAll covers the iteration of Store.ReadAll.
	SpanStoreReadAll = "emmett.store.read_all"
	// SpanProcessorBatch covers one batch of a processor (projector or
	// reactor), its retries included. It is the root of a trace of its
	// own, linked to the span that appended each event of the batch.
	SpanProcessorBatch = "emmett.processor.batch"
	// SpanProcessorRetry covers the retry of a parked event (see
	// projection.ParkOnFailure): its delivery to the handler and, once
	// handled, its removal from the parked events. It is the root of a
	// trace of its own, linked to the span that appended the event.
	SpanProcessorRetry = "emmett.processor.retry"
)

// Span event names.
const (
	// EventProcessorEventSkipped is added to a SpanProcessorBatch for each
	// event its failure policy skipped, with the event's position, type
	// and the error.
	EventProcessorEventSkipped = "emmett.processor.event.skipped"
	// EventProcessorEventParked is added to a SpanProcessorBatch for each
	// event its failure policy parked.
	EventProcessorEventParked = "emmett.processor.event.parked"
)

// Metric names. Durations are histograms in seconds.
const (
	// MetricCommandDuration is the time to handle a command, retries
	// included, by CommandTypeKey and OutcomeKey.
	MetricCommandDuration = "emmett.command.duration"
	// MetricStoreAppendDuration is the time of an append, by
	// StoreBackendKey and OutcomeKey.
	MetricStoreAppendDuration = "emmett.store.append.duration"
	// MetricStoreEventsAppended counts the events appended, by
	// StoreBackendKey.
	MetricStoreEventsAppended = "emmett.store.events.appended"
	// MetricStoreReadDuration is the time of a read (the iteration of
	// ReadStream or ReadAll), by StoreBackendKey, StoreOperationKey and
	// OutcomeKey.
	MetricStoreReadDuration = "emmett.store.read.duration"
	// MetricProcessorBatchDuration is the time a processor takes for a
	// batch, retries included, by ProcessorIDKey and OutcomeKey.
	MetricProcessorBatchDuration = "emmett.processor.batch.duration"
	// MetricProcessorEventsProcessed counts the events a processor has
	// taken through its batches (handled or skipped as of no interest),
	// by ProcessorIDKey.
	MetricProcessorEventsProcessed = "emmett.processor.events.processed"
	// MetricProcessorEventsSkipped counts the events a processor skipped
	// because its handler kept failing on them (projection.SkipOnFailure),
	// by ProcessorIDKey.
	MetricProcessorEventsSkipped = "emmett.processor.events.skipped"
	// MetricProcessorEventsParked counts the events a processor parked
	// because its handler kept failing on them (projection.ParkOnFailure),
	// by ProcessorIDKey.
	MetricProcessorEventsParked = "emmett.processor.events.parked"
	// MetricProcessorParkedRetries counts the retries of parked events,
	// by ProcessorIDKey and OutcomeKey: OutcomeOK when the handler
	// applied the event (it is no longer parked), OutcomeError when it
	// failed again.
	MetricProcessorParkedRetries = "emmett.processor.parked.retries"
	// MetricProcessorLagEvents is an observable gauge: how many events the
	// processor is behind the head of its source (the difference of
	// global positions: exact where they have no gaps, as in memory and
	// SQLite, an upper bound on PostgreSQL), by ProcessorIDKey. It is
	// observed, by asking the source for its head, each time the
	// application's metric reader collects, by the instance that runs
	// the processor.
	MetricProcessorLagEvents = "emmett.processor.lag.events"
	// MetricProcessorLagTime is an observable gauge: how long ago the last
	// event the processor has processed was stored, while it is behind
	// (0 once caught up), in seconds, by ProcessorIDKey.
	MetricProcessorLagTime = "emmett.processor.lag.time"
	// MetricReplicationSlotRetainedWAL is an observable gauge: the bytes
	// of WAL a PostgreSQL logical replication slot keeps from being
	// recycled (pg_current_wal_lsn() minus the slot's restart_lsn), by
	// ReplicationSlotKey.
	MetricReplicationSlotRetainedWAL = "emmett.replication.slot.retained_wal"
	// MetricReplicationSlotLag is an observable gauge: how far the
	// consumer of a PostgreSQL logical replication slot is behind, in
	// bytes of WAL (pg_current_wal_lsn() minus the slot's
	// confirmed_flush_lsn), by ReplicationSlotKey.
	MetricReplicationSlotLag = "emmett.replication.slot.lag"
)

// Attribute keys, on spans and measurements.
const (
	// CommandTypeKey is the Go type name of a command (its name without
	// the package: "AddProductItemToShoppingCart"). Commands handled by a
	// command.Handler, which are functions, have none.
	CommandTypeKey = attribute.Key("emmett.command.type")
	// CommandAttemptsKey is the number of attempts a command took (more
	// than 1 when its append lost a race and was retried).
	CommandAttemptsKey = attribute.Key("emmett.command.attempts")
	// StreamNameKey is the name of the stream.
	StreamNameKey = attribute.Key("emmett.stream.name")
	// StreamVersionBeforeKey is the stream's version the command was
	// decided on.
	StreamVersionBeforeKey = attribute.Key("emmett.stream.version.before")
	// StreamVersionAfterKey is the stream's version after the command or
	// append.
	StreamVersionAfterKey = attribute.Key("emmett.stream.version.after")
	// StreamExpectedVersionKey is the expected version of an append
	// ("any", "no_stream", "stream_exists" or the version).
	StreamExpectedVersionKey = attribute.Key("emmett.stream.version.expected")
	// EventCountKey is the number of events appended, read or in a batch.
	EventCountKey = attribute.Key("emmett.event.count")
	// StoreBackendKey names the store: "memory", "sqlite" or "postgres".
	StoreBackendKey = attribute.Key("emmett.store.backend")
	// StoreOperationKey is the kind of read: "read_stream" or "read_all".
	StoreOperationKey = attribute.Key("emmett.store.operation")
	// ProcessorIDKey is a processor's id.
	ProcessorIDKey = attribute.Key("emmett.processor.id")
	// CheckpointFromKey is a processor's checkpoint before a batch, as
	// eventstore.Position.String writes it.
	CheckpointFromKey = attribute.Key("emmett.processor.checkpoint.from")
	// CheckpointToKey is where a batch moves the checkpoint.
	CheckpointToKey = attribute.Key("emmett.processor.checkpoint.to")
	// BatchAttemptsKey is the number of tries a batch took.
	BatchAttemptsKey = attribute.Key("emmett.processor.attempts")
	// ParkedIDKey is the id of a parked event.
	ParkedIDKey = attribute.Key("emmett.processor.parked.id")
	// EventPositionKey is an event's global position, as
	// eventstore.Position.String writes it.
	EventPositionKey = attribute.Key("emmett.event.position")
	// EventTypeKey is an event's type.
	EventTypeKey = attribute.Key("emmett.event.type")
	// ReplicationSlotKey names a PostgreSQL replication slot.
	ReplicationSlotKey = attribute.Key("emmett.replication.slot")
	// OutcomeKey is how an operation ended: OutcomeOK, OutcomeRejected,
	// OutcomeConflict or OutcomeError.
	OutcomeKey = attribute.Key("emmett.outcome")
)

// Values of OutcomeKey.
const (
	// OutcomeOK: the operation succeeded.
	OutcomeOK = "ok"
	// OutcomeRejected: the decision refused the command (a business rule,
	// invalid input); the domain's error is recorded on the span.
	OutcomeRejected = "rejected"
	// OutcomeConflict: the stream was not at the expected version.
	OutcomeConflict = "conflict"
	// OutcomeError: anything else went wrong.
	OutcomeError = "error"
)

// Log attribute keys that NewLogHandler adds.
const (
	// LogTraceIDKey holds the trace id, 32 hex digits.
	LogTraceIDKey = "trace_id"
	// LogSpanIDKey holds the span id, 16 hex digits.
	LogSpanIDKey = "span_id"
)
