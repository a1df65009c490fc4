// Package guest is the Go side of Emmett's WebAssembly ABI: write a
// projection or an event transformation in Go, build it with the standard
// toolchain, and run it sandboxed in a host through package
// github.com/emmett-go/emmett/projection/wasm.
//
// A guest module is a main package that registers its functions in an init
// function (a WASI reactor runs package initialization, never main):
//
//	package main
//
//	import "github.com/emmett-go/emmett/projection/wasm/guest"
//
//	type Counter struct{ Count int `json:"count"` }
//
//	func init() {
//		guest.RegisterProjection(guest.Projection{
//			EventTypes: []string{"Clicked"},
//			Evolve: guest.Evolve(func(doc *Counter, e guest.Event) (*Counter, error) {
//				if doc == nil {
//					doc = &Counter{}
//				}
//				doc.Count++
//				return doc, nil
//			}),
//		})
//	}
//
//	func main() {}
//
// and is built as a reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o counter.wasm .
//
// Registering in init is the one exception to the project's rule of no
// init() registration: a reactor has no main that runs first, and init is
// the only code of the module that runs before the host's first call.
//
// The exports of the ABI, version 2 (emmett_alloc, emmett_free,
// emmett_describe, emmett_evolve_batch, emmett_document_ids_batch,
// emmett_transform_batch), are defined by this package when it is built
// for wasip1; see the README of package wasm for the ABI itself. On other
// platforms the package compiles without them, so that guest code can be
// unit-tested natively.
//
// The host passes a whole batch of events per call: Evolve gets each
// document once per batch with all its events, and encodes it once.
// encoding/json is slow in WebAssembly (it finds its way through values
// with reflection): types that implement Decodable and Encodable, with
// this package's Decoder and Encoder, are read and written without it by
// Event.Decode, Event.With and Evolve.
//
// A guest keeps no state between calls that the host relies on: the host
// runs several instances of a module, may discard one at any time (after a
// trap or a timeout) and replace it with a fresh one. Panics are not
// recovered: a panicking function traps, the host reports the panic's
// message and discards the instance.
package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"
)

// ABIVersion is the version of the ABI this package implements: 2, whose
// calls carry a batch of events. Hosts that know only version 1 refuse the
// module.
const ABIVersion = 2

// Event is an event as the host passes it: the recorded envelope, with the
// event's data and metadata as raw JSON.
//
// Events given to a transformation before they are appended have no
// positions, no creation time, and a message id only when the appender
// chose one.
//
// Data and Metadata (and the document EvolveJSON's function gets) point
// into the
// call's input, which the host reuses: they are valid until the function
// returns. Decode them, or copy them to keep them longer.
type Event struct {
	// Type is the event's type name.
	Type string `json:"type"`
	// Data is the event's JSON data.
	Data json.RawMessage `json:"data"`
	// Metadata is the event's metadata, a JSON object ({} when none).
	// Leave it nil in a transformation's result to keep the metadata of
	// the event transformed.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// StreamName is the stream the event belongs (or is appended) to.
	StreamName string `json:"streamName,omitempty"`
	// StreamPosition is the event's position in its stream, from 1.
	StreamPosition int64 `json:"streamPosition,omitempty"`
	// GlobalPosition is the event's position in the global log.
	GlobalPosition int64 `json:"globalPosition,omitempty"`
	// TransactionID is the id of the appending transaction where the
	// store has one (PostgreSQL), else 0.
	TransactionID uint64 `json:"transactionId,omitempty"`
	// MessageID is the event's unique id.
	MessageID string `json:"messageId,omitempty"`
	// SchemaVersion is the version of the event type's schema that Data
	// is in (1 for a type that never changed): the stored one, or the
	// current one where the host upgrades events (wasm.WithUpgrade).
	SchemaVersion int `json:"schemaVersion,omitempty"`
	// Created is when the event was stored.
	Created time.Time `json:"created,omitzero"`

	dataLength int
}

// Decode decodes the event's data into v: with its DecodeJSON method when
// v is Decodable, else with encoding/json.
func (e Event) Decode(v any) error {
	if err := decode(e.Data, v); err != nil {
		return fmt.Errorf("decoding %s data: %w", e.Type, err)
	}
	return nil
}

// With returns a copy of e with another type name and data (encoded to
// JSON: with its EncodeJSON method when data is Encodable, else with
// encoding/json); the metadata and the rest of the envelope are kept.
// Upcasters use it to turn an old event into its new shape.
func (e Event) With(typeName string, data any) (Event, error) {
	raw, err := encode(nil, data)
	if err != nil {
		return Event{}, fmt.Errorf("encoding %s data: %w", typeName, err)
	}
	e.Type, e.Data = typeName, raw
	return e, nil
}

// decode decodes data into v, Decodable or with encoding/json.
func decode(data []byte, v any) error {
	if d, ok := v.(Decodable); ok {
		return Unmarshal(data, d)
	}
	return json.Unmarshal(data, v)
}

// encode appends the JSON of v to buf, Encodable or with encoding/json.
func encode(buf []byte, v any) ([]byte, error) {
	if enc, ok := v.(Encodable); ok {
		e := Encoder{buf: buf}
		enc.EncodeJSON(&e)
		return e.buf, e.err
	}
	out, err := json.Marshal(v)
	return append(buf, out...), err
}

// Evolver evolves a document through events: build one with Evolve, over
// a Go document type, or EvolveJSON, over raw JSON.
type Evolver interface {
	// read reads the document at s (null: none) for evolve.
	read(s *jsonx.Scanner) (document any, err error)
	// evolve folds events into the document read and appends the result
	// to dst, or reports that there is none (deleted); on failure it
	// returns the index of the failing event and its error.
	evolve(dst []byte, document any, events []Event) (out []byte, deleted bool, failed int, err error)
}

// Evolve returns the Evolver of fn, a function over a Go document type:
// fn takes the current document (nil when there is none) and an event and
// returns the new document, or nil to delete it. It may change and return
// the document it was given. A batch's events of one document are passed
// through fn one after the other, the document decoded before the first
// and encoded after the last: with its DecodeJSON and EncodeJSON methods
// when *D is Decodable and Encodable, else with encoding/json.
func Evolve[D any](fn func(doc *D, event Event) (*D, error)) Evolver {
	return typedEvolver[D](fn)
}

type typedEvolver[D any] func(doc *D, event Event) (*D, error)

func (fn typedEvolver[D]) read(s *jsonx.Scanner) (any, error) {
	if s.Null() {
		return (*D)(nil), nil
	}
	doc := new(D)
	if dec, ok := any(doc).(Decodable); ok {
		// Decoded where it is in the input, without delimiting it first.
		d := decoders.Get().(*Decoder)
		d.s, d.err = *s, nil
		dec.DecodeJSON(d)
		s.I, d.s.B = d.s.I, nil
		err := d.err
		decoders.Put(d)
		if err != nil {
			return nil, fmt.Errorf("decoding document: %w", err)
		}
		return doc, nil
	}
	raw, err := s.PassRaw()
	if err == nil {
		err = json.Unmarshal(raw, doc)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding document: %w", err)
	}
	return doc, nil
}

func (fn typedEvolver[D]) evolve(dst []byte, document any, events []Event) ([]byte, bool, int, error) {
	doc, _ := document.(*D)
	for i, e := range events {
		var err error
		if doc, err = fn(doc, e); err != nil {
			return dst, false, i, err
		}
	}
	if doc == nil {
		return dst, true, 0, nil
	}
	n := len(dst)
	out, err := encode(dst, doc)
	if err != nil {
		return out[:n], false, len(events) - 1, fmt.Errorf("encoding document: %w", err)
	}
	return out, false, 0, nil
}

// EvolveJSON returns the Evolver of fn, a function over raw JSON: fn takes
// the current document (nil when there is none) and an event and returns
// the new document, or nil to delete it.
func EvolveJSON(fn func(document []byte, event Event) ([]byte, error)) Evolver {
	return rawEvolver(fn)
}

type rawEvolver func(document []byte, event Event) ([]byte, error)

func (fn rawEvolver) read(s *jsonx.Scanner) (any, error) {
	raw, err := s.PassRaw()
	if err != nil || isNull(raw) {
		return []byte(nil), err
	}
	return raw, nil
}

func (fn rawEvolver) evolve(dst []byte, document any, events []Event) ([]byte, bool, int, error) {
	doc, _ := document.([]byte)
	for i, e := range events {
		var err error
		if doc, err = fn(doc, e); err != nil {
			return dst, false, i, err
		}
	}
	if doc == nil {
		return dst, true, 0, nil
	}
	return append(dst, doc...), false, 0, nil
}

// Field names a member of the event envelope, besides Type and Data,
// which every module gets.
type Field string

// The members of the event envelope a module may choose (Projection.Fields,
// Transform.Fields); each fills the Event field of the same name.
const (
	FieldMetadata       Field = "metadata"
	FieldStreamName     Field = "streamName"
	FieldStreamPosition Field = "streamPosition"
	FieldGlobalPosition Field = "globalPosition"
	FieldTransactionID  Field = "transactionId"
	FieldMessageID      Field = "messageId"
	FieldSchemaVersion  Field = "schemaVersion"
	FieldCreated        Field = "created"
)

// Projection is a document projection: for each event of its types, the
// host finds the documents the event changes, and folds the events of each
// document into it with Evolve (a batch's events of one document in one
// call, in log order), then stores (or deletes) what Evolve returns.
type Projection struct {
	// EventTypes lists the event type names the projection handles; nil
	// means every type.
	EventTypes []string
	// Fields lists the members of the event envelope the functions read,
	// besides Type and Data; nil means every member. The host sends only
	// those, and the module reads only those: the others stay zero in the
	// Events. Reading an envelope costs a module compiled from Go about as
	// much as decoding the event's data, so a projection that needs only
	// the data and its schema version (FieldSchemaVersion) saves much of
	// it. DocumentIDs nil (the document of the event's stream) needs no
	// field: the host knows the stream.
	Fields []Field
	// DocumentIDs returns the ids of the documents an event changes (none:
	// the event changes nothing). Nil means the document of the event's
	// stream, whose id is the stream name.
	DocumentIDs func(event Event) ([]string, error)
	// Evolve computes a document's next version; required.
	Evolve Evolver
}

// Transform is an event transformation: an upcaster applied as events are
// read, or a rewrite applied before they are appended. Events of other
// types pass through the host untouched.
type Transform struct {
	// EventTypes lists the event type names to transform; nil means
	// every type.
	EventTypes []string
	// Fields lists the members of the event envelope Transform reads,
	// besides Type and Data; nil means every member (see
	// Projection.Fields). The host keeps, in the events Transform returns,
	// what they leave out: the original's metadata and message id, and
	// its schema version unless they give one.
	Fields []Field
	// Transform returns the events that replace event: usually one,
	// possibly none (to drop it) or several (to split it). A result's
	// positions are ignored: the host keeps the original's.
	Transform func(event Event) ([]Event, error)
}

// module is what a guest registers.
type module struct {
	projection *Projection
	transform  *Transform
	out        []byte  // the last result, reused by the next
	events     []Event // the last input's events, reused by the next
	docEvents  []Event
	strings    interner
}

// registered is the module this process exports: a Wasm instance is one
// process, and its exports reach it through package state.
var registered module

// RegisterProjection makes the module a document projection. Call it once,
// from an init function; it panics on a projection without Evolve or a
// second registration.
func RegisterProjection(p Projection) { registered.registerProjection(p) }

// RegisterTransform makes the module an event transformation. Call it
// once, from an init function; it panics on a Transform without a function
// or a second registration. A module may register both a projection and a
// transformation.
func RegisterTransform(t Transform) { registered.registerTransform(t) }

func (m *module) registerProjection(p Projection) {
	if p.Evolve == nil {
		panic("guest.RegisterProjection: Evolve is nil")
	}
	if m.projection != nil {
		panic("guest.RegisterProjection: a projection is already registered")
	}
	m.projection = &p
}

func (m *module) registerTransform(t Transform) {
	if t.Transform == nil {
		panic("guest.RegisterTransform: Transform is nil")
	}
	if m.transform != nil {
		panic("guest.RegisterTransform: a transformation is already registered")
	}
	m.transform = &t
}

// The handlers below implement the ABI's functions on bytes: JSON in, a
// JSON result object out. They are independent of WebAssembly, so that
// they are tested natively.

type describeResult struct {
	ABI        int                 `json:"abi"`
	Projection *describeProjection `json:"projection,omitempty"`
	Transform  *describeTransform  `json:"transform,omitempty"`
}

type describeProjection struct {
	EventTypes  []string `json:"eventTypes"`
	DocumentIDs bool     `json:"documentIds"`
	Fields      *[]Field `json:"fields,omitempty"` // nil: every member
}

type describeTransform struct {
	EventTypes []string `json:"eventTypes"`
	Fields     *[]Field `json:"fields,omitempty"`
}

func (m *module) describe() []byte {
	d := describeResult{ABI: ABIVersion}
	if p := m.projection; p != nil {
		d.Projection = &describeProjection{EventTypes: p.EventTypes, DocumentIDs: p.DocumentIDs != nil, Fields: fieldList(p.Fields)}
	}
	if t := m.transform; t != nil {
		d.Transform = &describeTransform{EventTypes: t.EventTypes, Fields: fieldList(t.Fields)}
	}
	return mustMarshal(d)
}

// fieldList is the description's list of fields: absent for nil (every
// member), present for an empty list (none).
func fieldList(fields []Field) *[]Field {
	if fields == nil {
		return nil
	}
	return &fields
}

var errNoProjection = errors.New("the module registers no projection")

// evolveBatch implements emmett_evolve_batch: {"documents": [{"id",
// "document", "events"}, ...]} in, {"documents": [{"document"} or
// {"delete": true}, ...]} out, one result per document, or the first
// failure, {"error", "document", "index"}.
func (m *module) evolveBatch(input []byte) []byte {
	if m.projection == nil {
		return errorResult(errNoProjection, -1, -1)
	}
	out := append(m.out[:0], `{"documents":[`...)
	s := &jsonx.Scanner{B: input}
	var failure []byte
	n := 0
	err := s.Object(func(key []byte) error {
		if string(key) != "documents" {
			return s.Skip()
		}
		return s.Array(func() error {
			var doc any
			read := false
			events := m.docEvents[:0]
			err := s.Object(func(key []byte) error {
				var err error
				switch string(key) {
				case "document":
					if doc, err = m.projection.Evolve.read(s); err != nil {
						failure = errorResult(err, n, 0)
						return errStop
					}
					read = true
				case "events":
					events, err = readEvents(s, &m.strings, events)
				default:
					err = s.Skip()
				}
				return err
			})
			if err == nil && !read {
				doc, err = m.projection.Evolve.read(&jsonx.Scanner{B: []byte("null")})
			}
			m.docEvents = events
			if err != nil {
				return err
			}
			if n > 0 {
				out = append(out, ',')
			}
			mark := len(out)
			out = append(out, `{"document":`...)
			var deleted bool
			var failed int
			if out, deleted, failed, err = m.projection.Evolve.evolve(out, doc, events); err != nil {
				failure = errorResult(err, n, failed)
				return errStop
			}
			if deleted {
				out = append(out[:mark], `{"delete":true}`...)
			} else {
				out = append(out, '}')
			}
			n++
			return nil
		})
	})
	if failure != nil {
		return failure
	}
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return errorResult(fmt.Errorf("decoding evolve input: %w", err), -1, -1)
	}
	m.out = append(out, "]}"...)
	return m.out
}

// errStop stops the reading of an input at a failure already recorded.
var errStop = errors.New("stop")

// documentIDsBatch implements emmett_document_ids_batch: {"events": [...]}
// in, {"ids": [[...], ...]} out, or the first failure, {"error", "index"}.
func (m *module) documentIDsBatch(input []byte) []byte {
	if m.projection == nil {
		return errorResult(errNoProjection, -1, -1)
	}
	events, err := readEventsInput(input, &m.strings, m.events[:0])
	m.events = events
	if err != nil {
		return errorResult(fmt.Errorf("decoding events: %w", err), -1, -1)
	}
	out := append(m.out[:0], `{"ids":[`...)
	for i, e := range events {
		ids := []string{e.StreamName}
		if m.projection.DocumentIDs != nil {
			if ids, err = m.projection.DocumentIDs(e); err != nil {
				return errorResult(err, -1, i)
			}
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '[')
		for k, id := range ids {
			if k > 0 {
				out = append(out, ',')
			}
			out = jsonx.AppendString(out, id)
		}
		out = append(out, ']')
	}
	m.out = append(out, "]}"...)
	return m.out
}

// transformBatch implements emmett_transform_batch: {"events": [...]} in,
// {"events": [[...], ...]} out (the events that replace each one), or the
// first failure, {"error", "index"}.
func (m *module) transformBatch(input []byte) []byte {
	if m.transform == nil {
		return errorResult(errors.New("the module registers no transformation"), -1, -1)
	}
	events, err := readEventsInput(input, &m.strings, m.events[:0])
	m.events = events
	if err != nil {
		return errorResult(fmt.Errorf("decoding events: %w", err), -1, -1)
	}
	out := append(m.out[:0], `{"events":[`...)
	for i, e := range events {
		results, err := m.transform.Transform(e)
		if err != nil {
			return errorResult(err, -1, i)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = appendResults(out, e, results)
	}
	m.out = append(out, "]}"...)
	return m.out
}

// appendResults appends the events a transformation returned for e. What
// they keep of e (its metadata, its message id) is left out: the host
// keeps it.
func appendResults(out []byte, e Event, results []Event) []byte {
	out = append(out, '[')
	for i, o := range results {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"type":`...)
		out = jsonx.AppendString(out, o.Type)
		out = append(out, `,"data":`...)
		out = appendRaw(out, o.Data)
		if o.Metadata != nil && !bytes.Equal(o.Metadata, e.Metadata) {
			out = append(out, `,"metadata":`...)
			out = appendRaw(out, o.Metadata)
		}
		if o.MessageID != "" && o.MessageID != e.MessageID {
			out = append(out, `,"messageId":`...)
			out = jsonx.AppendString(out, o.MessageID)
		}
		if o.SchemaVersion > 0 {
			out = append(out, `,"schemaVersion":`...)
			out = strconv.AppendInt(out, int64(o.SchemaVersion), 10)
		}
		out = append(out, '}')
	}
	return append(out, ']')
}

// errorResult is {"error": message}, with the index of the failing
// document (evolve) and of the failing event when they are known (>= 0).
func errorResult(err error, document, event int) []byte {
	out := jsonx.AppendString([]byte(`{"error":`), err.Error())
	if document >= 0 {
		out = append(out, `,"document":`...)
		out = strconv.AppendInt(out, int64(document), 10)
	}
	if event >= 0 {
		out = append(out, `,"index":`...)
		out = strconv.AppendInt(out, int64(event), 10)
	}
	return append(out, '}')
}

func mustMarshal(v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		// Only the types above are marshalled, and they always encode.
		panic(err)
	}
	return out
}

func isNull(b []byte) bool {
	return len(b) == 0 || string(b) == "null"
}
