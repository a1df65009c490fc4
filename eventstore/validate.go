package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/google/uuid"
)

// MaxStreamNameLength is the longest stream name, in bytes, a store accepts.
const MaxStreamNameLength = 512

// DefaultMaxEventBytes is the default limit on an event's data plus metadata.
const DefaultMaxEventBytes = 1 << 20

// ValidateStreamName returns an *InvalidStreamNameError when name is empty,
// longer than MaxStreamNameLength, not valid UTF-8 or contains NUL.
func ValidateStreamName(name string) error {
	switch {
	case name == "":
		return &InvalidStreamNameError{Name: name, Reason: "empty"}
	case len(name) > MaxStreamNameLength:
		return &InvalidStreamNameError{Name: name, Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(name), MaxStreamNameLength)}
	case !utf8.ValidString(name):
		return &InvalidStreamNameError{Name: name, Reason: "not valid UTF-8"}
	case strings.IndexByte(name, 0) >= 0:
		return &InvalidStreamNameError{Name: name, Reason: "contains a NUL byte"}
	}
	return nil
}

// UnknownStreamType is the stream type of a stream name without a '-', as
// Emmett for Node records it.
const UnknownStreamType = "emt:unknown"

// StreamType returns the type part of a stream name: what comes before its
// first '-' ("shopping_cart" for "shopping_cart-123"), or UnknownStreamType
// when there is no '-' or nothing before it ("plain", "-x"). Stores record
// it in emt_streams.stream_type, as Emmett for Node does.
func StreamType(stream string) string {
	if i := strings.IndexByte(stream, '-'); i > 0 {
		return stream[:i]
	}
	return UnknownStreamType
}

// PreparedEvent is an event validated and ready to be written: it has a
// message id and its metadata encoded.
type PreparedEvent struct {
	EventData
	// MetadataJSON is Metadata encoded as a JSON object ({} when empty).
	MetadataJSON []byte
}

// Prepare validates an append's stream name and events and returns them
// ready to be written. maxEventBytes bounds data plus metadata of each event
// (DefaultMaxEventBytes when 0 or less). Backends call it, or
// PrepareContext, before touching their storage, so that bad input is
// refused with nothing written.
func Prepare(stream string, events []EventData, maxEventBytes int) ([]PreparedEvent, error) {
	return PrepareContext(context.Background(), stream, events, maxEventBytes)
}

// PrepareContext is Prepare for an append made in ctx. When ctx carries a
// trace context (an OpenTelemetry span, or a parent from another process),
// each event's metadata also gets it, as the W3C Trace Context fields
// telemetry.TraceParentField and telemetry.TraceStateField (see
// telemetry.InjectMetadata), which count toward maxEventBytes. Whoever
// handles the event later (a processor, another service) can then link
// its work to the append: the trace runs from the request through the
// append to the projections.
//
// Backends call it with the context of their AppendToStream, so that every
// append made in a traced context carries its trace, whoever makes it.
func PrepareContext(ctx context.Context, stream string, events []EventData, maxEventBytes int) ([]PreparedEvent, error) {
	if err := ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, ErrNoEvents
	}
	if maxEventBytes <= 0 {
		maxEventBytes = DefaultMaxEventBytes
	}
	// The trace context is the same for every event: formatted once.
	traceFields := telemetry.InjectMetadata(ctx, emmett.Metadata{}).Fields
	out := make([]PreparedEvent, len(events))
	for i, e := range events {
		if traceFields != nil {
			e.Metadata = withTrace(e.Metadata, traceFields)
		}
		if e.Type == "" {
			return nil, &InvalidEventError{Index: i, Reason: "no type name"}
		}
		if !utf8.ValidString(e.Type) || strings.IndexByte(e.Type, 0) >= 0 {
			return nil, &InvalidEventError{Index: i, Type: e.Type, Reason: "type name is not valid UTF-8 text"}
		}
		if len(e.Data) > maxEventBytes {
			return nil, &InvalidEventError{Index: i, Type: e.Type, Reason: fmt.Sprintf("data is %d bytes, the limit is %d", len(e.Data), maxEventBytes), Err: ErrEventTooLarge}
		}
		if !e.encoded && !json.Valid(e.Data) {
			return nil, &InvalidEventError{Index: i, Type: e.Type, Reason: "data is not valid JSON", Err: jsonError(e.Data)}
		}
		md, err := encodeMetadata(e.Metadata)
		if err != nil {
			return nil, &InvalidEventError{Index: i, Type: e.Type, Reason: "metadata does not encode to JSON: " + err.Error(), Err: err}
		}
		if size := len(e.Data) + len(md); size > maxEventBytes {
			return nil, &InvalidEventError{Index: i, Type: e.Type, Reason: fmt.Sprintf("data and metadata are %d bytes, the limit is %d", size, maxEventBytes), Err: ErrEventTooLarge}
		}
		if e.MessageID == "" {
			e.MessageID = uuid.NewString()
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

// Encode encodes typed events with their registry into EventData, each with
// the given metadata.
func Encode[E any](events *emmett.Events[E], evs []E, metadata emmett.Metadata) ([]EventData, error) {
	out := make([]EventData, len(evs))
	for i, ev := range evs {
		name, data, err := events.Encode(ev)
		if err != nil {
			return nil, err
		}
		out[i] = EventData{Type: name, Data: data, Metadata: metadata, encoded: true}
	}
	return out, nil
}
