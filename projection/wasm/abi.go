package wasm

import (
	"encoding/json"
	"fmt"
	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"
	"strconv"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// ABIVersion is the version of the guest ABI this host implements (see the
// package README). A module's emmett_describe must report it.
const ABIVersion = 1

// The exports of the ABI.
const (
	exportAlloc       = "emmett_alloc"
	exportFree        = "emmett_free"
	exportDescribe    = "emmett_describe"
	exportEvolve      = "emmett_evolve"
	exportDocumentIDs = "emmett_document_ids"
	exportTransform   = "emmett_transform"
	exportInitialize  = "_initialize"
	wasiModule        = "wasi_snapshot_preview1"
)

// Description is what a module reports of itself through emmett_describe.
type Description struct {
	// Projection is set when the module is a document projection.
	Projection *ProjectionDescription `json:"projection,omitempty"`
	// Transform is set when the module is an event transformation.
	Transform *TransformDescription `json:"transform,omitempty"`
}

// ProjectionDescription describes a module's document projection.
type ProjectionDescription struct {
	// EventTypes lists the event types the projection handles; nil means
	// every type.
	EventTypes []string `json:"eventTypes"`
	// DocumentIDs reports whether the module chooses the documents an
	// event changes (emmett_document_ids); otherwise each event changes
	// the document of its stream.
	DocumentIDs bool `json:"documentIds"`
}

// TransformDescription describes a module's event transformation.
type TransformDescription struct {
	// EventTypes lists the event types the transformation changes; nil
	// means every type. Events of other types pass untouched, without a
	// call into the module.
	EventTypes []string `json:"eventTypes"`
}

type describeResult struct {
	ABI   int     `json:"abi"`
	Error *string `json:"error"`
	Description
}

// appendEvent appends the JSON envelope of a recorded event.
func appendEvent(buf []byte, e emmett.RecordedEvent) ([]byte, error) {
	buf = append(buf, `{"type":`...)
	buf = jsonx.AppendString(buf, e.Type)
	buf = append(buf, `,"data":`...)
	buf = appendRaw(buf, e.Data)
	buf = append(buf, `,"metadata":`...)
	var err error
	if buf, err = appendMetadata(buf, e.Metadata); err != nil {
		return nil, err
	}
	buf = append(buf, `,"streamName":`...)
	buf = jsonx.AppendString(buf, e.StreamName)
	buf = append(buf, `,"streamPosition":`...)
	buf = strconv.AppendInt(buf, e.StreamPosition, 10)
	buf = append(buf, `,"globalPosition":`...)
	buf = strconv.AppendInt(buf, e.GlobalPosition, 10)
	if e.TransactionID != 0 {
		buf = append(buf, `,"transactionId":`...)
		buf = strconv.AppendUint(buf, e.TransactionID, 10)
	}
	buf = append(buf, `,"messageId":`...)
	buf = jsonx.AppendString(buf, e.MessageID)
	buf = append(buf, `,"schemaVersion":`...)
	buf = strconv.AppendInt(buf, int64(max(e.SchemaVersion, 1)), 10)
	if !e.Created.IsZero() {
		buf = append(buf, `,"created":"`...)
		buf = e.Created.UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, '"')
	}
	return append(buf, '}'), nil
}

// appendEventData appends the JSON envelope of an event about to be
// appended to stream: no positions and no creation time yet.
func appendEventData(buf []byte, stream string, e eventstore.EventData) ([]byte, error) {
	buf = append(buf, `{"type":`...)
	buf = jsonx.AppendString(buf, e.Type)
	buf = append(buf, `,"data":`...)
	buf = appendRaw(buf, e.Data)
	buf = append(buf, `,"metadata":`...)
	var err error
	if buf, err = appendMetadata(buf, e.Metadata); err != nil {
		return nil, err
	}
	buf = append(buf, `,"streamName":`...)
	buf = jsonx.AppendString(buf, stream)
	if e.MessageID != "" {
		buf = append(buf, `,"messageId":`...)
		buf = jsonx.AppendString(buf, e.MessageID)
	}
	buf = append(buf, `,"schemaVersion":`...)
	buf = strconv.AppendInt(buf, int64(max(e.SchemaVersion, 1)), 10)
	return append(buf, '}'), nil
}

func appendRaw(buf, raw []byte) []byte {
	if len(raw) == 0 {
		return append(buf, "null"...)
	}
	return append(buf, raw...)
}

func appendMetadata(buf []byte, m emmett.Metadata) ([]byte, error) {
	if m.IsZero() {
		return append(buf, "{}"...), nil
	}
	md, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding metadata: %w", err)
	}
	return append(buf, md...), nil
}

// evolveResult is the result of emmett_evolve.
type evolveResult struct {
	Document json.RawMessage `json:"document"`
	Delete   bool            `json:"delete"`
	Error    *string         `json:"error"`
	Index    *int            `json:"index"`
}

// idsResult is the result of emmett_document_ids.
type idsResult struct {
	IDs   *[]string `json:"ids"`
	Error *string   `json:"error"`
}

// transformResult is the result of emmett_transform.
type transformResult struct {
	Events *[]resultEvent `json:"events"`
	Error  *string        `json:"error"`
}

type resultEvent struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Metadata  json.RawMessage `json:"metadata"`
	MessageID string          `json:"messageId"`
	// SchemaVersion, when above 0, is the schema version of Data: a
	// transformation that upcasts says so.
	SchemaVersion int `json:"schemaVersion"`
}

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }
