package emmett

import "time"

// RecordedEvent is an event as it is stored: its type name, JSON data and
// metadata, and where it sits in its stream and in the global log.
type RecordedEvent struct {
	// MessageID is the event's unique id (a UUID string). Reactors use it
	// to make side effects idempotent.
	MessageID string
	// Type is the stored type name.
	Type string
	// Data is the JSON encoding of the event, at SchemaVersion.
	Data []byte
	// SchemaVersion is the schema version Data has (message_schema_version;
	// see Events.Upcast): 0 when the store does not tell, which decodes as
	// the type's current version.
	SchemaVersion int
	// Metadata holds correlation and causation ids and user fields.
	Metadata Metadata
	// StreamName is the stream the event belongs to.
	StreamName string
	// StreamPosition is the event's position in its stream, counting from 1.
	StreamPosition int64
	// GlobalPosition is the event's position in the store's global log.
	GlobalPosition int64
	// TransactionID is the id of the transaction that appended the event
	// where the store has one (PostgreSQL's xid8); 0 elsewhere.
	TransactionID uint64
	// Created is when the event was stored.
	Created time.Time
}

// Recorded is a recorded event with its data decoded into the Go type E.
type Recorded[E any] struct {
	// Event is the decoded event.
	Event E
	RecordedEvent
}
