package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/storable"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/google/uuid"
)

// PreparedEvent is an event validated and ready to be written: it has a
// message id and its metadata encoded.
type PreparedEvent struct {
	eventstore.EventData
	// MetadataJSON is Metadata encoded as a JSON object ({} when empty).
	MetadataJSON []byte
}

// Prepare validates an append's stream name and events and returns them
// ready to be written. Backends call it with the context of their
// AppendToStream and its resolved options before touching their storage,
// so that bad input is refused with nothing written, the same way on every
// backend.
//
// Text every store can keep is valid UTF-8 without NUL: the stream name,
// type name and message id must be, and so must the strings of the data
// and metadata, which also may not hold the escape \u0000 or a lone UTF-16
// surrogate escape (valid JSON, but PostgreSQL's jsonb refuses them).
//
// Each event gets o.Metadata under its own (eventstore.WithMetadata), and a
// message id when it has none. maxEventBytes bounds data plus metadata of
// each event (eventstore.DefaultMaxEventBytes when 0 or less).
//
// When ctx carries a trace context (an OpenTelemetry span, or a parent from
// another process), each event's metadata also gets it, as the W3C Trace
// Context fields telemetry.TraceParentField and telemetry.TraceStateField
// (see telemetry.InjectMetadata), which count toward maxEventBytes. Whoever
// handles the event later (a processor, another service) can then link its
// work to the append: the trace runs from the request through the append
// to the projections.
func Prepare(ctx context.Context, stream string, events []eventstore.EventData, o eventstore.AppendOptions, maxEventBytes int) ([]PreparedEvent, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, eventstore.ErrNoEvents
	}
	if maxEventBytes <= 0 {
		maxEventBytes = eventstore.DefaultMaxEventBytes
	}
	// The trace context is the same for every event: formatted once.
	traceFields := telemetry.InjectMetadata(ctx, emmett.Metadata{}).Fields
	out := make([]PreparedEvent, len(events))
	for i, e := range events {
		if !o.Metadata.IsZero() {
			e.Metadata = o.Metadata.Merge(e.Metadata)
		}
		if traceFields != nil {
			e.Metadata = withTrace(e.Metadata, traceFields)
		}
		if e.Type == "" {
			return nil, &eventstore.InvalidEventError{Index: i, Reason: "no type name"}
		}
		if err := storable.Text(e.Type); err != nil {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "type name " + err.Error()}
		}
		if err := storable.Text(e.MessageID); err != nil {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "message id " + err.Error()}
		}
		if len(e.Data) > maxEventBytes {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: fmt.Sprintf("data is %d bytes, the limit is %d", len(e.Data), maxEventBytes), Err: eventstore.ErrEventTooLarge}
		}
		if !json.Valid(e.Data) {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "data is not valid JSON", Err: jsonError(e.Data)}
		}
		if err := storable.JSON(e.Data); err != nil {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "data " + err.Error()}
		}
		md, err := encodeMetadata(e.Metadata)
		if err != nil {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "metadata does not encode to JSON: " + err.Error(), Err: err}
		}
		if err := storable.JSON(md); err != nil {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "metadata " + err.Error()}
		}
		if size := len(e.Data) + len(md); size > maxEventBytes {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: fmt.Sprintf("data and metadata are %d bytes, the limit is %d", size, maxEventBytes), Err: eventstore.ErrEventTooLarge}
		}
		if e.SchemaVersion < 0 {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: fmt.Sprintf("schema version %d: versions count from 1", e.SchemaVersion)}
		}
		if e.SchemaVersion == 0 {
			e.SchemaVersion = 1
		}
		if e.MessageID == "" && o.IdempotencyKey != "" {
			e.MessageID = eventstore.IdempotentMessageID(o.IdempotencyKey, stream, i)
		} else if e.MessageID == "" {
			e.MessageID = uuid.NewString()
		} else if slices.ContainsFunc(out[:i], func(p PreparedEvent) bool { return p.MessageID == e.MessageID }) {
			return nil, &eventstore.InvalidEventError{Index: i, Type: e.Type, Reason: "message id " + e.MessageID + " is given twice"}
		}
		out[i] = PreparedEvent{EventData: e, MetadataJSON: md}
	}
	return out, nil
}

// withTrace returns m with the trace context fields of an append, in
// place of any it has.
func withTrace(m emmett.Metadata, traceFields map[string]any) emmett.Metadata {
	fields := make(map[string]any, len(m.Fields)+len(traceFields))
	maps.Copy(fields, m.Fields)
	delete(fields, telemetry.TraceStateField)
	maps.Copy(fields, traceFields)
	m.Fields = fields
	return m
}

var emptyMetadata = []byte("{}")

func encodeMetadata(m emmett.Metadata) ([]byte, error) {
	if m.IsZero() {
		return emptyMetadata, nil
	}
	return json.Marshal(m)
}

func jsonError(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	return nil
}
