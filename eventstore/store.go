package eventstore

import (
	"context"
	"iter"

	"github.com/emmett-go/emmett/emmett"
)

// EventData is an event to append: its type name, JSON data and metadata.
//
// Every store refuses, with an error matching ErrInvalidEvent, text that
// not all of them could keep: a type name or message id that is not valid
// UTF-8 or holds NUL, and data or metadata whose strings do (invalid UTF-8,
// the escape \u0000) or hold a lone UTF-16 surrogate escape (\ud800 with
// no low half after it), which PostgreSQL's jsonb refuses although it is
// valid JSON.
type EventData struct {
	// MessageID is the event's unique id; a new UUID when empty.
	MessageID string
	// Type is the event's type name; required.
	Type string
	// Data is the event's JSON encoding; required, and must be valid JSON.
	Data []byte
	// Metadata travels with the event.
	Metadata emmett.Metadata
	// SchemaVersion is the schema version of Data (see
	// emmett.Events.Upcast), stored with the event; 0 stores 1, the
	// version of a type that never changed. Encode sets it.
	SchemaVersion int
}

// AppendResult is what a successful append returns.
type AppendResult struct {
	// NextExpectedVersion is the stream's version after the append: pass it
	// to ExpectVersion for the next append to the same stream.
	NextExpectedVersion int64
	// Created reports whether the append created the stream.
	Created bool
	// Position is the global position of the last appended event; wait for
	// it to read this append's effects from an asynchronous read model.
	Position Position
	// Events are the appended events as recorded.
	Events []emmett.RecordedEvent
	// Duplicate reports that the events were stored already, by an
	// earlier append of the same message ids (a retry after an unknown
	// outcome): nothing was appended, and the result is that append's.
	Duplicate bool
}

// Appender appends events to streams.
type Appender interface {
	// AppendToStream appends events to the end of a stream atomically: all
	// are stored or none. The expected version (an AppendOption) is
	// checked in the same transaction as the write.
	AppendToStream(ctx context.Context, stream string, events []EventData, opts ...AppendOption) (AppendResult, error)
}

// StreamReader reads single streams.
type StreamReader interface {
	// ReadStream returns the events of a stream in stream order, within
	// the range the options give. A stream that does not exist yields
	// nothing. Events are fetched lazily, so a long stream is read in
	// bounded memory; stop iterating to stop reading. An error ends the
	// sequence.
	ReadStream(ctx context.Context, stream string, opts ...ReadOption) iter.Seq2[emmett.RecordedEvent, error]
	// StreamVersion returns the version of a stream (the position of its
	// last event) and whether it exists.
	StreamVersion(ctx context.Context, stream string, opts ...ReadOption) (version int64, exists bool, err error)
}

// GlobalReader reads the global log.
type GlobalReader interface {
	// ReadAll returns the events after position in the global log's order,
	// at most MaxCount of them when that option is given. It never skips
	// an event that a later call could return before it. An error ends
	// the sequence.
	ReadAll(ctx context.Context, after Position, opts ...ReadOption) iter.Seq2[emmett.RecordedEvent, error]
}

// PositionResolver turns the positions clients send back into positions
// of the store's log.
type PositionResolver interface {
	// ResolvePosition returns the position of the event at p's global
	// position, as the store orders its log: for PostgreSQL, with the
	// event's transaction id. Clients hand back a bare global position
	// (the globalPosition of an event as the HTTP API and the command-line
	// tool show it, "42") as often as a whole one ("1907:42"); resolved,
	// it means on every store what it says: after (or up to) that event.
	//
	// The error matches ErrPositionNotFound when no event has that global
	// position, or when p has a transaction id and the event another one:
	// p is not a position the store handed out, and reading after it would
	// mean nothing (on PostgreSQL, a bare number sorts before every event).
	// The zero Position (the start of the log) and a position without a
	// global position (an LSN alone) are returned as they are; an LSN is
	// kept.
	ResolvePosition(ctx context.Context, p Position) (Position, error)
}

// Store is an event store: the contract every backend implements.
type Store interface {
	Appender
	StreamReader
	GlobalReader
	PositionResolver
}
