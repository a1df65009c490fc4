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
// The exports of the ABI (emmett_alloc, emmett_free, emmett_describe,
// emmett_evolve, emmett_document_ids, emmett_transform) are defined by this
// package when it is built for wasip1; see the README of package wasm for
// the ABI itself. On other platforms the package compiles without them, so
// that guest code can be unit-tested natively.
//
// A guest keeps no state between calls that the host relies on: the host
// runs several instances of a module, may discard one at any time (after a
// trap or a timeout) and replace it with a fresh one. Panics are not
// recovered: a panicking function traps, the host reports the panic's
// message and discards the instance.
package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"
	"strconv"
	"time"
)

// ABIVersion is the version of the ABI this package implements; the host
// refuses modules of another version.
const ABIVersion = 1

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
}

// Decode decodes the event's data into v.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decoding %s data: %w", e.Type, err)
	}
	return nil
}

// With returns a copy of e with another type name and data (encoded to
// JSON); the metadata and the rest of the envelope are kept. Upcasters use
// it to turn an old event into its new shape.
func (e Event) With(typeName string, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encoding %s data: %w", typeName, err)
	}
	e.Type, e.Data = typeName, raw
	return e, nil
}

// Evolver evolves a document through events: build one with Evolve, over
// a Go document type, or EvolveJSON, over raw JSON.
type Evolver interface {
	// evolve folds events into document (nil: none) and returns the
	// result (nil: delete), or the index of the failing event and its
	// error.
	evolve(document []byte, events []Event) ([]byte, int, error)
}

// Evolve returns the Evolver of fn, a function over a Go document type:
// fn takes the current document (nil when there is none) and an event and
// returns the new document, or nil to delete it. It may change and return
// the document it was given. For a run of events of one document the
// document is decoded once, passed through fn event by event, and encoded
// once.
func Evolve[D any](fn func(doc *D, event Event) (*D, error)) Evolver {
	return typedEvolver[D](fn)
}

type typedEvolver[D any] func(doc *D, event Event) (*D, error)

func (fn typedEvolver[D]) evolve(document []byte, events []Event) ([]byte, int, error) {
	var doc *D
	if document != nil {
		doc = new(D)
		if err := json.Unmarshal(document, doc); err != nil {
			return nil, 0, fmt.Errorf("decoding document: %w", err)
		}
	}
	for i, e := range events {
		var err error
		if doc, err = fn(doc, e); err != nil {
			return nil, i, err
		}
	}
	if doc == nil {
		return nil, 0, nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, len(events) - 1, fmt.Errorf("encoding document: %w", err)
	}
	return out, 0, nil
}

// EvolveJSON returns the Evolver of fn, a function over raw JSON: fn takes
// the current document (nil when there is none) and an event and returns
// the new document, or nil to delete it.
func EvolveJSON(fn func(document []byte, event Event) ([]byte, error)) Evolver {
	return rawEvolver(fn)
}

type rawEvolver func(document []byte, event Event) ([]byte, error)

func (fn rawEvolver) evolve(document []byte, events []Event) ([]byte, int, error) {
	for i, e := range events {
		var err error
		if document, err = fn(document, e); err != nil {
			return nil, i, err
		}
	}
	return document, 0, nil
}

// Projection is a document projection: for each event of its types, the
// host finds the documents the event changes, and folds the events of each
// document into it with Evolve (a batch's events of one document in one
// call, in log order), then stores (or deletes) what Evolve returns.
type Projection struct {
	// EventTypes lists the event type names the projection handles; nil
	// means every type.
	EventTypes []string
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
	// Transform returns the events that replace event: usually one,
	// possibly none (to drop it) or several (to split it). A result's
	// positions are ignored: the host keeps the original's.
	Transform func(event Event) ([]Event, error)
}

// module is what a guest registers.
type module struct {
	projection *Projection
	transform  *Transform
	out        []byte // the last result, reused by the next
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
}

type describeTransform struct {
	EventTypes []string `json:"eventTypes"`
}

func (m *module) describe() []byte {
	d := describeResult{ABI: ABIVersion}
	if p := m.projection; p != nil {
		d.Projection = &describeProjection{EventTypes: p.EventTypes, DocumentIDs: p.DocumentIDs != nil}
	}
	if t := m.transform; t != nil {
		d.Transform = &describeTransform{EventTypes: t.EventTypes}
	}
	return mustMarshal(d)
}

var errNoProjection = errors.New("the module registers no projection")

func (m *module) evolve(input []byte) []byte {
	if m.projection == nil {
		return errorResult(errNoProjection, -1)
	}
	doc, events, err := parseEvolveInput(input)
	if err != nil {
		return errorResult(fmt.Errorf("decoding evolve input: %w", err), -1)
	}
	next, i, err := m.projection.Evolve.evolve(doc, events)
	if err != nil {
		return errorResult(err, i)
	}
	if next == nil {
		return []byte(`{"delete":true}`)
	}
	out := append(m.out[:0], `{"document":`...)
	out = append(out, next...)
	m.out = append(out, '}')
	return m.out
}

func (m *module) documentIDs(input []byte) []byte {
	if m.projection == nil {
		return errorResult(errNoProjection, -1)
	}
	e, err := parseEvent(input)
	if err != nil {
		return errorResult(fmt.Errorf("decoding event: %w", err), -1)
	}
	ids := []string{e.StreamName}
	if m.projection.DocumentIDs != nil {
		if ids, err = m.projection.DocumentIDs(e); err != nil {
			return errorResult(err, -1)
		}
	}
	out := append(m.out[:0], `{"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			out = append(out, ',')
		}
		out = jsonx.AppendString(out, id)
	}
	m.out = append(out, "]}"...)
	return m.out
}

func (m *module) transformEvent(input []byte) []byte {
	if m.transform == nil {
		return errorResult(errors.New("the module registers no transformation"), -1)
	}
	e, err := parseEvent(input)
	if err != nil {
		return errorResult(fmt.Errorf("decoding event: %w", err), -1)
	}
	events, err := m.transform.Transform(e)
	if err != nil {
		return errorResult(err, -1)
	}
	out := append(m.out[:0], `{"events":[`...)
	for i, o := range events {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"type":`...)
		out = jsonx.AppendString(out, o.Type)
		out = append(out, `,"data":`...)
		out = appendRaw(out, o.Data)
		if o.Metadata != nil {
			out = append(out, `,"metadata":`...)
			out = appendRaw(out, o.Metadata)
		}
		if o.MessageID != "" {
			out = append(out, `,"messageId":`...)
			out = jsonx.AppendString(out, o.MessageID)
		}
		if o.SchemaVersion > 0 {
			out = append(out, `,"schemaVersion":`...)
			out = strconv.AppendInt(out, int64(o.SchemaVersion), 10)
		}
		out = append(out, '}')
	}
	m.out = append(out, "]}"...)
	return m.out
}

// errorResult is {"error": message}, with the index of the failing event
// of an evolve when i >= 0.
func errorResult(err error, i int) []byte {
	out := jsonx.AppendString([]byte(`{"error":`), err.Error())
	if i >= 0 {
		out = append(out, `,"index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
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
