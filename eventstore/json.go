package eventstore

import (
	"encoding/json"
	"time"

	"github.com/emmett-go/emmett/emmett"
)

// JSONEvent is the JSON form of a recorded event: what the HTTP API's
// event streams serve and what the command-line tool prints, one object
// per event. Decode a stream of them into JSONEvent, and call Recorded to
// get the recorded events back.
type JSONEvent struct {
	// MessageID is the event's unique id.
	MessageID string `json:"messageId"`
	// Type is the event's type name.
	Type string `json:"type"`
	// Data is the event's JSON data.
	Data json.RawMessage `json:"data"`
	// SchemaVersion is the schema version of Data (1 for a type that
	// never changed; see emmett.Events.Upcast).
	SchemaVersion int `json:"schemaVersion"`
	// Metadata is the event's metadata, an object ({} when none).
	Metadata emmett.Metadata `json:"metadata"`
	// StreamName is the stream the event belongs to.
	StreamName string `json:"streamName"`
	// StreamPosition is the event's position in its stream, from 1.
	StreamPosition int64 `json:"streamPosition"`
	// GlobalPosition is the event's position in the global log.
	GlobalPosition int64 `json:"globalPosition"`
	// Position is the event's position in the global log as text (see
	// Position.String): where a reader resumes after it.
	Position string `json:"position"`
	// Created is when the event was stored.
	Created time.Time `json:"created"`
}

// NewJSONEvent returns the JSON form of e.
func NewJSONEvent(e emmett.RecordedEvent) JSONEvent {
	return JSONEvent{
		MessageID:      e.MessageID,
		Type:           e.Type,
		Data:           json.RawMessage(e.Data),
		SchemaVersion:  max(e.SchemaVersion, 1),
		Metadata:       e.Metadata,
		StreamName:     e.StreamName,
		StreamPosition: e.StreamPosition,
		GlobalPosition: e.GlobalPosition,
		Position:       PositionOf(e).String(),
		Created:        e.Created,
	}
}

// Recorded returns the recorded event e is the JSON form of, or an error
// when its Position is not a position's text.
func (e JSONEvent) Recorded() (emmett.RecordedEvent, error) {
	pos, err := ParsePosition(e.Position)
	if err != nil {
		return emmett.RecordedEvent{}, err
	}
	return emmett.RecordedEvent{
		MessageID:      e.MessageID,
		Type:           e.Type,
		Data:           []byte(e.Data),
		SchemaVersion:  e.SchemaVersion,
		Metadata:       e.Metadata,
		StreamName:     e.StreamName,
		StreamPosition: e.StreamPosition,
		GlobalPosition: e.GlobalPosition,
		TransactionID:  pos.TransactionID,
		Created:        e.Created,
	}, nil
}
