package eventstore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/emmett-go/emmett/emmett"
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

// Encode encodes typed events with their registry into EventData, each with
// the given metadata and its schema version: the current one of its type,
// or the older one the registry's Downcast declares.
func Encode[E any](events *emmett.Events[E], evs []E, metadata emmett.Metadata) ([]EventData, error) {
	out := make([]EventData, len(evs))
	for i, ev := range evs {
		name, version, data, err := events.EncodeVersion(ev)
		if err != nil {
			return nil, err
		}
		out[i] = EventData{Type: name, Data: data, Metadata: metadata, SchemaVersion: version}
	}
	return out, nil
}
