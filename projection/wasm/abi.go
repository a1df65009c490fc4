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

// ABIVersion is the latest version of the guest ABI this host implements
// (see the package README); it runs modules of versions 1 and 2. Version 2
// passes a whole batch of events per call; version 1, one run of a
// document's events (a projection) or one event (a transformation).
const ABIVersion = 2

// The exports of the ABI.
const (
	exportAlloc      = "emmett_alloc"
	exportFree       = "emmett_free"
	exportDescribe   = "emmett_describe"
	exportInitialize = "_initialize"
	wasiModule       = "wasi_snapshot_preview1"

	// Version 1.
	exportEvolve      = "emmett_evolve"
	exportDocumentIDs = "emmett_document_ids"
	exportTransform   = "emmett_transform"

	// Version 2.
	exportEvolveBatch      = "emmett_evolve_batch"
	exportDocumentIDsBatch = "emmett_document_ids_batch"
	exportTransformBatch   = "emmett_transform_batch"
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
	// Fields lists the members of the event envelope the module reads
	// besides type and data, which it always gets (ABI version 2); nil
	// means every member.
	Fields []string `json:"fields,omitempty"`
}

// TransformDescription describes a module's event transformation.
type TransformDescription struct {
	// EventTypes lists the event types the transformation changes; nil
	// means every type. Events of other types pass untouched, without a
	// call into the module.
	EventTypes []string `json:"eventTypes"`
	// Fields lists the members of the event envelope the module reads
	// besides type and data (ABI version 2); nil means every member.
	Fields []string `json:"fields,omitempty"`
}

// fieldSet is a set of the members of an event envelope, besides type and
// data: those a module reads (ProjectionDescription.Fields).
type fieldSet uint16

const (
	fieldMetadata fieldSet = 1 << iota
	fieldStreamName
	fieldStreamPosition
	fieldGlobalPosition
	fieldTransactionID
	fieldMessageID
	fieldSchemaVersion
	fieldCreated

	allFields fieldSet = 1<<iota - 1
)

var fieldNames = map[string]fieldSet{
	"metadata": fieldMetadata, "streamName": fieldStreamName, "streamPosition": fieldStreamPosition,
	"globalPosition": fieldGlobalPosition, "transactionId": fieldTransactionID, "messageId": fieldMessageID,
	"schemaVersion": fieldSchemaVersion, "created": fieldCreated,
}

// fieldsOf returns the set of the named members: every one for nil, and
// only those it knows (a later version may name more).
func fieldsOf(names []string) fieldSet {
	if names == nil {
		return allFields
	}
	var set fieldSet
	for _, n := range names {
		set |= fieldNames[n]
	}
	return set
}

type describeResult struct {
	ABI   int     `json:"abi"`
	Error *string `json:"error"`
	Description
}

// appendEvent appends the JSON envelope of a recorded event.
func appendEvent(buf []byte, e emmett.RecordedEvent, fields fieldSet) ([]byte, error) {
	var md [2]int
	return appendEventSpan(buf, e, fields, &md)
}

// appendEventSpan is appendEvent, setting md to the bounds of the
// metadata's JSON in the result (empty when it is left out).
func appendEventSpan(buf []byte, e emmett.RecordedEvent, fields fieldSet, md *[2]int) ([]byte, error) {
	buf = append(buf, `{"type":`...)
	buf = jsonx.AppendString(buf, e.Type)
	buf = appendData(buf, e.Data)
	*md = [2]int{}
	if fields&fieldMetadata != 0 {
		buf = append(buf, `,"metadata":`...)
		md[0] = len(buf)
		var err error
		if buf, err = appendMetadata(buf, e.Metadata); err != nil {
			return nil, err
		}
		md[1] = len(buf)
	}
	if fields&fieldStreamName != 0 {
		buf = append(buf, `,"streamName":`...)
		buf = jsonx.AppendString(buf, e.StreamName)
	}
	if fields&fieldStreamPosition != 0 {
		buf = append(buf, `,"streamPosition":`...)
		buf = strconv.AppendInt(buf, e.StreamPosition, 10)
	}
	if fields&fieldGlobalPosition != 0 {
		buf = append(buf, `,"globalPosition":`...)
		buf = strconv.AppendInt(buf, e.GlobalPosition, 10)
	}
	if fields&fieldTransactionID != 0 && e.TransactionID != 0 {
		buf = append(buf, `,"transactionId":`...)
		buf = strconv.AppendUint(buf, e.TransactionID, 10)
	}
	if fields&fieldMessageID != 0 {
		buf = append(buf, `,"messageId":`...)
		buf = jsonx.AppendString(buf, e.MessageID)
	}
	if fields&fieldSchemaVersion != 0 {
		buf = append(buf, `,"schemaVersion":`...)
		buf = strconv.AppendInt(buf, int64(max(e.SchemaVersion, 1)), 10)
	}
	if fields&fieldCreated != 0 && !e.Created.IsZero() {
		buf = append(buf, `,"created":"`...)
		buf = e.Created.UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, '"')
	}
	return append(buf, '}'), nil
}

// appendEventDataSpan appends the JSON envelope of an event about to be
// appended to stream (no positions and no creation time yet), setting md
// to the bounds of its metadata's JSON (empty when it is left out).
func appendEventDataSpan(buf []byte, stream string, e eventstore.EventData, fields fieldSet, md *[2]int) ([]byte, error) {
	fields &^= fieldStreamPosition | fieldGlobalPosition | fieldTransactionID | fieldCreated
	if e.MessageID == "" {
		fields &^= fieldMessageID
	}
	return appendEventSpan(buf, emmett.RecordedEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata, StreamName: stream,
		MessageID: e.MessageID, SchemaVersion: e.SchemaVersion}, fields, md)
}

// appendData appends the data members of an envelope: "dataLength", the
// number of bytes of "data" (which lets a reader take the data without
// reading through it), then "data".
func appendData(buf, data []byte) []byte {
	n := len(data)
	if n == 0 {
		n = len("null")
	}
	buf = append(buf, `,"dataLength":`...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, `,"data":`...)
	return appendRaw(buf, data)
}

func appendRaw(buf, raw []byte) []byte {
	if len(raw) == 0 {
		return append(buf, "null"...)
	}
	return append(buf, raw...)
}

// appendMetadata appends the metadata's JSON object: written directly when
// it has only its correlation and causation ids (as emmett.Metadata's
// MarshalJSON writes them, keys in order), else by MarshalJSON.
func appendMetadata(buf []byte, m emmett.Metadata) ([]byte, error) {
	if m.IsZero() {
		return append(buf, "{}"...), nil
	}
	if len(m.Fields) == 0 {
		buf = append(buf, '{')
		if m.CausationID != "" {
			buf = append(buf, `"causationId":`...)
			buf = jsonx.AppendString(buf, m.CausationID)
		}
		if m.CorrelationID != "" {
			if m.CausationID != "" {
				buf = append(buf, ',')
			}
			buf = append(buf, `"correlationId":`...)
			buf = jsonx.AppendString(buf, m.CorrelationID)
		}
		return append(buf, '}'), nil
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
