package wasm

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
)

// Projection is a document projection whose logic is a WebAssembly module:
// for each event, the module chooses the documents it changes (by default
// the document of the event's stream, whose id is the stream name) and
// evolves each of them. It keeps the documents in a collection through the
// transaction's document store, like projection.DocumentProjection, and
// implements projection.Projection: register it with a store to run
// inline, give it to projection.NewProjector to run asynchronously, and
// rebuild it with Processor.Rebuild.
//
// A failing call (a trap, a timeout, a malformed result, an error the
// module reports) fails the batch with a *projection.Error that carries the
// event, so nothing of the batch is stored: an inline projection rolls the
// append back, a processor retries and then stops at the event.
type Projection struct {
	module      *Module
	name        string
	collection  string
	types       []string
	typeSet     map[string]bool // nil: every type
	documentIDs bool
}

// ProjectionOption configures a Projection.
type ProjectionOption func(*projectionConfig)

type projectionConfig struct {
	collection string
}

// WithCollection stores the documents in the named collection instead of
// one named after the projection.
func WithCollection(name string) ProjectionOption {
	return func(c *projectionConfig) { c.collection = name }
}

// NewProjection returns the projection named name whose logic is m's. The
// module must describe a projection.
func NewProjection(m *Module, name string, opts ...ProjectionOption) (*Projection, error) {
	d := m.desc.Projection
	if d == nil {
		return nil, fmt.Errorf("%w: module %q describes no projection", ErrABI, m.name)
	}
	cfg := projectionConfig{collection: name}
	for _, o := range opts {
		o(&cfg)
	}
	if err := projection.ValidateCollection(cfg.collection); err != nil {
		return nil, fmt.Errorf("wasm projection %q: %w", name, err)
	}
	p := &Projection{module: m, name: name, collection: cfg.collection, types: slices.Clone(d.EventTypes), documentIDs: d.DocumentIDs}
	if p.types != nil {
		p.typeSet = make(map[string]bool, len(p.types))
		for _, t := range p.types {
			p.typeSet[t] = true
		}
	}
	return p, nil
}

var _ projection.Projection = (*Projection)(nil)

// Name implements projection.Projection.
func (p *Projection) Name() string { return p.name }

// EventTypes implements projection.Projection: the types the module
// describes.
func (p *Projection) EventTypes() []string { return slices.Clone(p.types) }

// CollectionName returns the name of the collection the documents are in.
func (p *Projection) CollectionName() string { return p.collection }

// Module returns the projection's module.
func (p *Projection) Module() *Module { return p.module }

// Handle implements projection.Projection: each document the batch touches
// is read once, evolved through all of its events by one instance of the
// module, and written (or deleted) once, in id order.
func (p *Projection) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	if len(events) == 0 {
		return nil
	}
	inst, err := p.module.acquire(ctx)
	if err != nil {
		return &projection.Error{Projection: p.name, Event: events[0], Err: err}
	}
	defer p.module.release(inst)

	type state struct {
		doc  []byte // nil: no document
		last emmett.RecordedEvent
	}
	docs := tx.Documents()
	touched := map[string]*state{}
	var event, input []byte
	stream := make([]string, 1)
	for _, rec := range events {
		if p.typeSet != nil && !p.typeSet[rec.Type] {
			continue
		}
		fail := func(err error) error { return &projection.Error{Projection: p.name, Event: rec, Err: err} }
		if event, err = appendEvent(event[:0], rec); err != nil {
			return fail(err)
		}
		ids := stream
		ids[0] = rec.StreamName
		if p.documentIDs {
			if ids, err = p.module.documentIDs(ctx, inst, event); err != nil {
				return fail(err)
			}
		}
		for _, id := range ids {
			st, ok := touched[id]
			if !ok {
				st = &state{}
				data, found, err := docs.Get(ctx, p.collection, id)
				if err != nil {
					return fail(err)
				}
				if found {
					st.doc = data
				}
				touched[id] = st
			}
			input = append(input[:0], `{"document":`...)
			input = appendRaw(input, st.doc)
			input = append(input, `,"event":`...)
			input = append(input, event...)
			input = append(input, '}')
			if st.doc, err = p.module.evolve(ctx, inst, input); err != nil {
				return fail(err)
			}
			st.last = rec
		}
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	slices.Sort(ids) // a stable lock order for concurrent transactions
	for _, id := range ids {
		st := touched[id]
		if st.doc == nil {
			err = docs.Delete(ctx, p.collection, id)
		} else {
			err = docs.Put(ctx, p.collection, id, st.doc)
		}
		if err != nil {
			return &projection.Error{Projection: p.name, Event: st.last, Err: fmt.Errorf("storing document %q: %w", id, err)}
		}
	}
	return nil
}

// Reset implements projection.Projection: it deletes every document.
func (p *Projection) Reset(ctx context.Context, tx projection.Tx) error {
	return tx.Documents().DeleteAll(ctx, p.collection)
}

// evolve calls emmett_evolve: the new document, or nil to delete it.
func (m *Module) evolve(ctx context.Context, inst *instance, input []byte) ([]byte, error) {
	out, err := m.call(ctx, inst, exportEvolve, inst.fn(exportEvolve), input)
	if err != nil {
		return nil, err
	}
	var r evolveResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, m.malformed(inst, exportEvolve, out, err)
	}
	switch {
	case r.Error != nil:
		return nil, m.guestError(exportEvolve, *r.Error)
	case r.Delete && r.Document != nil:
		return nil, m.malformed(inst, exportEvolve, out, fmt.Errorf("both document and delete"))
	case r.Delete:
		return nil, nil
	case r.Document == nil:
		return nil, m.malformed(inst, exportEvolve, out, fmt.Errorf("no document, delete or error"))
	case isNull(r.Document):
		return nil, nil
	}
	return r.Document, nil
}

// documentIDs calls emmett_document_ids with an event's envelope.
func (m *Module) documentIDs(ctx context.Context, inst *instance, event []byte) ([]string, error) {
	out, err := m.call(ctx, inst, exportDocumentIDs, inst.fn(exportDocumentIDs), event)
	if err != nil {
		return nil, err
	}
	var r idsResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, m.malformed(inst, exportDocumentIDs, out, err)
	}
	switch {
	case r.Error != nil:
		return nil, m.guestError(exportDocumentIDs, *r.Error)
	case r.IDs == nil:
		return nil, m.malformed(inst, exportDocumentIDs, out, fmt.Errorf("no ids or error"))
	}
	for _, id := range *r.IDs {
		if id == "" {
			return nil, m.malformed(inst, exportDocumentIDs, out, fmt.Errorf("an empty document id"))
		}
	}
	return *r.IDs, nil
}
