package wasm

import (
	"context"
	"encoding/json"
	"errors"
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
// inline, give it to projection.NewProjectionProcessor to run asynchronously, and
// rebuild it with Processor.ResetAndRebuild.
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
	upgrade     emmett.UpgradeFunc
}

// ProjectionOption configures a Projection.
type ProjectionOption func(*projectionConfig)

type projectionConfig struct {
	collection string
	upgrade    emmett.UpgradeFunc
}

// WithUpgrade passes the module each event in the current form of its
// type: upgrade (an application registry's emmett.Events.Upgrade) runs the
// registry's upcasters in Go before the module sees the event, so that a
// module written for the current version reads databases that hold older
// ones. An event of a type the registry does not know
// (emmett.ErrUnknownEventType) is passed as stored; any other failure to
// upgrade fails the event, as the module's own errors do. The module sees
// the version in the envelope's schemaVersion either way.
func WithUpgrade(upgrade emmett.UpgradeFunc) ProjectionOption {
	return func(c *projectionConfig) { c.upgrade = upgrade }
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
	p := &Projection{module: m, name: name, collection: cfg.collection, types: slices.Clone(d.EventTypes), documentIDs: d.DocumentIDs,
		upgrade: cfg.upgrade}
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

// Limits of one emmett_evolve call: a document's events in a batch are
// passed in runs of at most this many events and bytes.
const (
	maxRunEvents = 100
	maxRunBytes  = 1 << 20
)

// Handle implements projection.Projection: it finds the documents each
// event changes, then, in id order, reads each document, folds its events
// into it in log order (in runs of up to 100 events per call), and writes
// (or deletes) it.
func (p *Projection) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	h := &handler{p: p, ctx: ctx, batch: events}
	defer h.release()
	for i, rec := range events {
		if p.upgrade != nil {
			up, err := rec.Upgraded(p.upgrade)
			switch {
			case err == nil:
				rec = up
			case !errors.Is(err, emmett.ErrUnknownEventType):
				return &projection.Error{Projection: p.name, Event: rec, Err: err}
			}
		}
		if p.typeSet != nil && !p.typeSet[rec.Type] {
			continue
		}
		if err := h.add(i, rec); err != nil {
			return &projection.Error{Projection: p.name, Event: rec, Err: err}
		}
	}
	docs := tx.Documents()
	ids := make([]string, 0, len(h.docs))
	for id := range h.docs {
		ids = append(ids, id)
	}
	slices.Sort(ids) // a stable lock order for concurrent transactions
	for _, id := range ids {
		evs := h.docs[id]
		data, found, err := docs.Get(ctx, p.collection, id)
		if err != nil {
			return &projection.Error{Projection: p.name, Event: h.eventAt(evs[0]), Err: err}
		}
		var doc []byte
		if found {
			doc = data
		}
		for len(evs) > 0 {
			n, size := 0, 0
			for n < len(evs) && n < maxRunEvents && (n == 0 || size+h.events[evs[n]].size() <= maxRunBytes) {
				size += h.events[evs[n]].size()
				n++
			}
			if doc, err = h.evolve(doc, evs[:n]); err != nil {
				return err
			}
			evs = evs[n:]
		}
		if doc == nil {
			err = docs.Delete(ctx, p.collection, id)
		} else {
			err = docs.Put(ctx, p.collection, id, doc)
		}
		if err != nil {
			last := h.docs[id][len(h.docs[id])-1]
			return &projection.Error{Projection: p.name, Event: h.eventAt(last), Err: fmt.Errorf("storing document %q: %w", id, err)}
		}
	}
	return nil
}

// handler is one Handle call: the envelopes of the batch's events, the
// events of each document, and an instance of the module.
type handler struct {
	p        *Projection
	ctx      context.Context
	batch    []emmett.RecordedEvent // the events given to Handle
	buf      []byte                 // the events' envelopes, one after the other
	events   []envelope             // the handled events
	docs     map[string][]int
	inst     *instance
	input    []byte
	streamID [1]string
}

// envelope is a handled event: its index in the batch and its envelope's
// bounds in handler.buf.
type envelope struct{ index, start, end int }

func (e envelope) size() int { return e.end - e.start }

func (h *handler) instance() (*instance, error) {
	if h.inst == nil {
		inst, err := h.p.module.acquire(h.ctx)
		if err != nil {
			return nil, err
		}
		h.inst = inst
	}
	return h.inst, nil
}

// release gives back the instance; a broken one is discarded, so that the
// next call takes a fresh one.
func (h *handler) release() {
	if h.inst != nil {
		h.p.module.release(h.inst)
		h.inst = nil
	}
}

// add encodes an event and assigns it to its documents.
func (h *handler) add(index int, rec emmett.RecordedEvent) error {
	if h.docs == nil {
		h.docs = map[string][]int{}
	}
	start := len(h.buf)
	var err error
	if h.buf, err = appendEvent(h.buf, rec); err != nil {
		return err
	}
	h.events = append(h.events, envelope{index: index, start: start, end: len(h.buf)})
	ids := h.streamID[:]
	ids[0] = rec.StreamName
	if h.p.documentIDs {
		inst, err := h.instance()
		if err != nil {
			return err
		}
		ids, err = h.p.module.documentIDs(h.ctx, inst, h.buf[start:])
		if err != nil {
			h.releaseBroken()
			return err
		}
	}
	for _, id := range ids {
		h.docs[id] = append(h.docs[id], len(h.events)-1)
	}
	return nil
}

func (h *handler) releaseBroken() {
	if h.inst != nil && h.inst.broken {
		h.release()
	}
}

// evolve folds a run of a document's events into it. On failure it finds
// the failing event: the module names it when it reports an error;
// otherwise (a trap, a timeout, a malformed result) the run is replayed an
// event at a time on a fresh instance.
func (h *handler) evolve(doc []byte, run []int) ([]byte, error) {
	next, failed, err := h.call(doc, run)
	if err == nil {
		return next, nil
	}
	h.releaseBroken()
	if failed < 0 && len(run) > 1 && h.ctx.Err() == nil {
		for i := range run {
			var replayErr error
			if doc, _, replayErr = h.call(doc, run[i:i+1]); replayErr != nil {
				h.releaseBroken()
				failed, err = i, replayErr
				break
			}
		}
	}
	if failed < 0 {
		// Not reproduced one event at a time: blame the run's last event.
		failed = len(run) - 1
	}
	return nil, &projection.Error{Projection: h.p.name, Event: h.eventAt(run[failed]), Err: err}
}

// call calls emmett_evolve with a document and a run of its events. It
// returns the new document (nil: delete), or the error and, when the
// module reported which, the index in run of the failing event (else -1).
func (h *handler) call(doc []byte, run []int) ([]byte, int, error) {
	inst, err := h.instance()
	if err != nil {
		return nil, -1, err
	}
	in := append(h.input[:0], `{"document":`...)
	in = appendRaw(in, doc)
	in = append(in, `,"events":[`...)
	for i, e := range run {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, h.buf[h.events[e].start:h.events[e].end]...)
	}
	h.input = append(in, "]}"...)
	next, failed, err := h.p.module.evolve(h.ctx, inst, h.input)
	if err != nil && (failed < 0 || failed >= len(run)) {
		failed = -1
	}
	return next, failed, err
}

// eventAt returns the e-th handled event.
func (h *handler) eventAt(e int) emmett.RecordedEvent { return h.batch[h.events[e].index] }

// Reset implements projection.Projection: it deletes every document.
func (p *Projection) Reset(ctx context.Context, tx projection.Tx) error {
	return tx.Documents().DeleteAll(ctx, p.collection)
}

// evolve calls emmett_evolve: the new document, or nil to delete it. When
// the module reports an error for one of the events, failed is its index
// (else -1).
func (m *Module) evolve(ctx context.Context, inst *instance, input []byte) (doc []byte, failed int, err error) {
	out, err := m.call(ctx, inst, exportEvolve, inst.fn(exportEvolve), input)
	if err != nil {
		return nil, -1, err
	}
	var r evolveResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, -1, m.malformed(inst, exportEvolve, out, err)
	}
	// A null document is a delete: {"document": null} and
	// {"document": null, "delete": true} both delete.
	null := r.Document != nil && isNull(r.Document)
	switch {
	case r.Error != nil:
		failed = -1
		if r.Index != nil {
			failed = *r.Index
		}
		return nil, failed, m.guestError(exportEvolve, *r.Error)
	case r.Delete && r.Document != nil && !null:
		return nil, -1, m.malformed(inst, exportEvolve, out, fmt.Errorf("both document and delete"))
	case r.Delete || null:
		return nil, -1, nil
	case r.Document == nil:
		return nil, -1, m.malformed(inst, exportEvolve, out, fmt.Errorf("no document, delete or error"))
	}
	return r.Document, -1, nil
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
