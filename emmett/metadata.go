package emmett

import (
	"bytes"
	"encoding/json"
	"maps"
)

// Metadata travels with an event: the ids that tie it to the request and the
// event that caused it, and the application's own fields.
//
// It is stored as one JSON object: {"correlationId": …, "causationId": …} and
// each of Fields beside them. No metadata is stored as {}.
type Metadata struct {
	// CorrelationID ties together everything done for one request or flow.
	CorrelationID string
	// CausationID is the id of the message that caused this one.
	CausationID string
	// Fields holds the application's own metadata; its values must encode
	// to JSON. The keys correlationId and causationId are reserved.
	Fields map[string]any
}

const (
	keyCorrelationID = "correlationId"
	keyCausationID   = "causationId"
)

// envelopeKeys are keys that other Emmett implementations put into the
// metadata column although the envelope already carries them; they are
// dropped on decoding so that they do not shadow the envelope.
var envelopeKeys = [...]string{"messageId", "streamName", "streamPosition", "globalPosition", "checkpoint"}

// IsZero reports whether m carries nothing.
func (m Metadata) IsZero() bool {
	return m.CorrelationID == "" && m.CausationID == "" && len(m.Fields) == 0
}

// Get returns a user field.
func (m Metadata) Get(key string) (any, bool) {
	v, ok := m.Fields[key]
	return v, ok
}

// With returns a copy of m with a user field set; m is not changed.
func (m Metadata) With(key string, value any) Metadata {
	fields := make(map[string]any, len(m.Fields)+1)
	maps.Copy(fields, m.Fields)
	fields[key] = value
	m.Fields = fields
	return m
}

// Merge returns m with the ids and fields of other laid over it: a non-empty
// id or a field in other wins.
func (m Metadata) Merge(other Metadata) Metadata {
	if other.CorrelationID != "" {
		m.CorrelationID = other.CorrelationID
	}
	if other.CausationID != "" {
		m.CausationID = other.CausationID
	}
	if len(other.Fields) > 0 {
		fields := make(map[string]any, len(m.Fields)+len(other.Fields))
		maps.Copy(fields, m.Fields)
		maps.Copy(fields, other.Fields)
		m.Fields = fields
	}
	return m
}

var emptyObject = []byte("{}")

// MarshalJSON encodes m as one JSON object.
func (m Metadata) MarshalJSON() ([]byte, error) {
	if m.IsZero() {
		return emptyObject, nil
	}
	obj := make(map[string]any, len(m.Fields)+2)
	maps.Copy(obj, m.Fields)
	if m.CorrelationID != "" {
		obj[keyCorrelationID] = m.CorrelationID
	}
	if m.CausationID != "" {
		obj[keyCausationID] = m.CausationID
	}
	return json.Marshal(obj)
}

// UnmarshalJSON decodes a JSON object (or null) into m.
func (m *Metadata) UnmarshalJSON(data []byte) error {
	*m = Metadata{}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) || bytes.Equal(data, emptyObject) {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	if s, ok := obj[keyCorrelationID].(string); ok {
		m.CorrelationID = s
		delete(obj, keyCorrelationID)
	}
	if s, ok := obj[keyCausationID].(string); ok {
		m.CausationID = s
		delete(obj, keyCausationID)
	}
	for _, k := range envelopeKeys {
		delete(obj, k)
	}
	if len(obj) > 0 {
		m.Fields = obj
	}
	return nil
}
