package wasm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"

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
	fields      fieldSet // the envelope members the module reads
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
		fields: fieldsOf(d.Fields), upgrade: cfg.upgrade}
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

// Limits of one call. A module of ABI version 2 is given a batch's
// documents and their events, as many as fit in maxCallEvents events and
// maxCallBytes bytes of input (a document's events are split into runs
// that do, the next run getting what the previous returned); one of version
// 1, a run of at most maxRunEvents events of one document per call.
const (
	maxCallEvents = 1000
	maxCallBytes  = 1 << 20
	maxRunEvents  = 100
	maxRunBytes   = 1 << 20
)

// Handle implements projection.Projection: it finds the documents each
// event changes, reads them, folds each one's events into it in log order
// (a module of ABI version 2 is given the documents and their events in
// as few calls as the limits allow, one of version 1 one run of a
// document's events at a time), and writes (or deletes) them in id order.
func (p *Projection) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	h := &handler{p: p, ctx: ctx, batch: events}
	if b, ok := buffers.Get().(*handlerBuffers); ok {
		h.buf, h.input = b.buf[:0], b.input[:0]
	}
	defer func() {
		h.release()
		// The buffers go back for the next batch, unless a batch of
		// unusual size grew them past what is worth keeping.
		if cap(h.buf)+cap(h.input) <= maxKeptBuffers {
			buffers.Put(&handlerBuffers{buf: h.buf, input: h.input})
		}
	}()
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
	if err := h.assignDocuments(); err != nil {
		return err
	}
	if len(h.docs) == 0 {
		return nil
	}
	docs := tx.Documents()
	if err := h.read(docs); err != nil {
		return err
	}
	if err := h.evolveAll(); err != nil {
		return err
	}
	return h.write(docs)
}

// buffers keeps the envelopes' and the input's buffers from batch to batch
// (*handlerBuffers), which spares the collector a megabyte a batch.
var buffers sync.Pool

type handlerBuffers struct{ buf, input []byte }

const maxKeptBuffers = 8 << 20

// handler is one Handle call: the envelopes of the batch's events, the
// documents they change, and an instance of the module.
type handler struct {
	p      *Projection
	ctx    context.Context
	batch  []emmett.RecordedEvent // the events given to Handle
	buf    []byte                 // the events' envelopes, one after the other
	events []envelope             // the handled events
	docs   []*docWork             // in id order
	inst   *instance
	input  []byte
}

// envelope is a handled event: its index in the batch, its envelope's
// bounds in handler.buf, and the ids of the documents it changes (nil: its
// stream's).
type envelope struct {
	index, start, end int
	ids               []string
}

func (e envelope) size() int { return e.end - e.start }

// docWork is a document of the batch: as read, then as evolved, and the
// events still to fold into it.
type docWork struct {
	id     string
	doc    []byte // nil: none
	events []int  // indexes in handler.events, in log order
	next   int    // events[next:] are still to fold
}

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

func (h *handler) releaseBroken() {
	if h.inst != nil && h.inst.broken {
		h.release()
	}
}

// add encodes an event. A module of version 1 that chooses the documents
// is asked for the event's at once.
func (h *handler) add(index int, rec emmett.RecordedEvent) error {
	start := len(h.buf)
	var err error
	if h.buf, err = appendEvent(h.buf, rec, h.p.fields); err != nil {
		return err
	}
	e := envelope{index: index, start: start, end: len(h.buf)}
	if h.p.documentIDs && h.p.module.abi < 2 {
		inst, err := h.instance()
		if err != nil {
			return err
		}
		if e.ids, err = h.p.module.documentIDs(h.ctx, inst, h.buf[start:]); err != nil {
			h.releaseBroken()
			return err
		}
		if e.ids == nil {
			e.ids = []string{}
		}
	}
	h.events = append(h.events, e)
	return nil
}

// assignDocuments finds the documents of the events: each event's stream's,
// or those the module chooses (a module of version 2 is asked for many
// events at once), and sorts them by id.
func (h *handler) assignDocuments() error {
	if h.p.documentIDs && h.p.module.abi >= 2 {
		for first := 0; first < len(h.events); {
			n, size := 0, 0
			for first+n < len(h.events) && n < maxCallEvents && (n == 0 || size+h.events[first+n].size() <= maxCallBytes) {
				size += h.events[first+n].size()
				n++
			}
			if err := h.documentIDsBatch(h.events[first : first+n]); err != nil {
				return err
			}
			first += n
		}
	}
	byID := map[string]*docWork{}
	for i, e := range h.events {
		ids := e.ids
		if ids == nil {
			ids = []string{h.batch[e.index].StreamName}
		}
		for _, id := range ids {
			w := byID[id]
			if w == nil {
				w = &docWork{id: id}
				byID[id] = w
				h.docs = append(h.docs, w)
			}
			w.events = append(w.events, i)
		}
	}
	// A stable lock order for concurrent transactions.
	slices.SortFunc(h.docs, func(a, b *docWork) int { return cmp.Compare(a.id, b.id) })
	return nil
}

// documentIDsBatch calls emmett_document_ids_batch with events.
func (h *handler) documentIDsBatch(events []envelope) error {
	inst, err := h.instance()
	if err != nil {
		return &projection.Error{Projection: h.p.name, Event: h.eventAt(0), Err: err}
	}
	in := append(h.input[:0], `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, h.buf[e.start:e.end]...)
	}
	h.input = append(in, "]}"...)
	ids, failed, err := h.p.module.documentIDsBatch(h.ctx, inst, h.input, len(events))
	if err != nil {
		h.releaseBroken()
		if failed < 0 || failed >= len(events) {
			failed = len(events) - 1
		}
		return &projection.Error{Projection: h.p.name, Event: h.batch[events[failed].index], Err: err}
	}
	for i := range events {
		events[i].ids = ids[i]
	}
	return nil
}

// read reads the documents, many at a time where the store can.
func (h *handler) read(docs projection.DocumentStore) error {
	if batch, ok := docs.(projection.BatchDocumentStore); ok {
		byID := make(map[string]*docWork, len(h.docs))
		ids := make([]string, len(h.docs))
		for i, w := range h.docs {
			byID[w.id] = w
			ids[i] = w.id
		}
		err := batch.GetMany(h.ctx, h.p.collection, ids, func(id string, data []byte) error {
			if w := byID[id]; w != nil {
				w.doc = slices.Clone(data)
			}
			return nil
		})
		if err != nil {
			return &projection.Error{Projection: h.p.name, Event: h.eventAt(h.docs[0].events[0]), Err: err}
		}
		return nil
	}
	for _, w := range h.docs {
		data, found, err := docs.Get(h.ctx, h.p.collection, w.id)
		if err != nil {
			return &projection.Error{Projection: h.p.name, Event: h.eventAt(w.events[0]), Err: err}
		}
		if found {
			w.doc = data
		}
	}
	return nil
}

// write stores (or deletes) the evolved documents in id order.
func (h *handler) write(docs projection.DocumentStore) error {
	batch, _ := docs.(projection.BatchDocumentStore)
	var puts []projection.Document
	fail := func(w *docWork, err error) error {
		last := w.events[len(w.events)-1]
		return &projection.Error{Projection: h.p.name, Event: h.eventAt(last), Err: fmt.Errorf("storing document %q: %w", w.id, err)}
	}
	for _, w := range h.docs {
		var err error
		switch {
		case w.doc == nil:
			err = docs.Delete(h.ctx, h.p.collection, w.id)
		case batch != nil:
			puts = append(puts, projection.Document{ID: w.id, Data: w.doc})
		default:
			err = docs.Put(h.ctx, h.p.collection, w.id, w.doc)
		}
		if err != nil {
			return fail(w, err)
		}
	}
	if len(puts) > 0 {
		if err := batch.PutMany(h.ctx, h.p.collection, puts); err != nil {
			return &projection.Error{Projection: h.p.name, Event: h.eventAt(h.docs[len(h.docs)-1].events[0]), Err: fmt.Errorf("storing documents: %w", err)}
		}
	}
	return nil
}

// item is a document and a run of its events, in a call.
type item struct {
	w *docWork
	n int // the run: w.events[w.next : w.next+n]
}

// evolveAll folds every document's events into it: in calls of as many
// documents as fit (version 2), or of one run of one document (version 1).
// A document whose events do not fit in one call gets the rest in later
// calls, each with what the previous returned.
func (h *handler) evolveAll() error {
	v2 := h.p.module.abi >= 2
	maxEvents, maxBytes := maxCallEvents, maxCallBytes
	if !v2 {
		maxEvents, maxBytes = maxRunEvents, maxRunBytes
	}
	var items []item
	size, count := 0, 0
	pending := h.docs
	for len(pending) > 0 {
		var later []*docWork
		flush := func() error {
			if len(items) == 0 {
				return nil
			}
			if err := h.evolve(items); err != nil {
				return err
			}
			for _, it := range items {
				if it.w.next += it.n; it.w.next < len(it.w.events) {
					later = append(later, it.w)
				}
			}
			items, size, count = items[:0], 0, 0
			return nil
		}
		for _, w := range pending {
			// The document's next run: as many of its events as a call
			// holds.
			n, runSize := 0, 0
			for w.next+n < len(w.events) && n < maxEvents {
				s := h.events[w.events[w.next+n]].size()
				if n > 0 && runSize+s > maxBytes {
					break
				}
				runSize += s
				n++
			}
			runSize += len(w.doc)
			if !v2 || count+n > maxEvents || size+runSize > maxBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			items = append(items, item{w, n})
			size += runSize
			count += n
		}
		if err := flush(); err != nil {
			return err
		}
		pending = later
	}
	return nil
}

// evolve folds the items' runs into their documents. On failure it finds
// the failing event: the module names it when it reports an error;
// otherwise (a trap, a timeout, a malformed result) the runs are replayed
// an event at a time on a fresh instance.
func (h *handler) evolve(items []item) error {
	failedItem, failedEvent, err := h.call(items)
	if err == nil {
		return nil
	}
	h.releaseBroken()
	if failedItem < 0 && h.ctx.Err() == nil && (len(items) > 1 || items[0].n > 1) {
	replay:
		for i, it := range items {
			doc := it.w.doc
			for k := range it.n {
				one := docWork{id: it.w.id, doc: doc, events: it.w.events[it.w.next+k : it.w.next+k+1]}
				if _, _, replayErr := h.call([]item{{&one, 1}}); replayErr != nil {
					h.releaseBroken()
					failedItem, failedEvent, err = i, k, replayErr
					break replay
				}
				doc = one.doc
			}
		}
	}
	if failedItem < 0 {
		// Not reproduced one event at a time: blame the last event.
		failedItem = len(items) - 1
		failedEvent = items[failedItem].n - 1
	}
	it := items[failedItem]
	return &projection.Error{Projection: h.p.name, Event: h.eventAt(it.w.events[it.w.next+failedEvent]), Err: err}
}

// call calls the module with the items: on success, each item's document
// is the new one (nil: delete). On failure it returns the error and, when
// the module said which, the indexes of the failing item and event in its
// run (else -1, -1).
func (h *handler) call(items []item) (int, int, error) {
	inst, err := h.instance()
	if err != nil {
		return -1, -1, err
	}
	appendRun := func(in []byte, it item) []byte {
		in = append(in, `"document":`...)
		in = appendRaw(in, it.w.doc)
		in = append(in, `,"events":[`...)
		for k, e := range it.w.events[it.w.next : it.w.next+it.n] {
			if k > 0 {
				in = append(in, ',')
			}
			in = append(in, h.buf[h.events[e].start:h.events[e].end]...)
		}
		return append(in, ']')
	}
	if h.p.module.abi < 2 {
		it := items[0]
		h.input = append(appendRun(append(h.input[:0], '{'), it), '}')
		next, failed, err := h.p.module.evolve(h.ctx, inst, h.input)
		if err != nil {
			if failed < 0 || failed >= it.n {
				return -1, -1, err
			}
			return 0, failed, err
		}
		it.w.doc = next
		return -1, -1, nil
	}
	in := append(h.input[:0], `{"documents":[`...)
	for i, it := range items {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, `{"id":`...)
		in = jsonx.AppendString(in, it.w.id)
		in = append(appendRun(append(in, ','), it), '}')
	}
	h.input = append(in, "]}"...)
	docs, failedItem, failedEvent, err := h.p.module.evolveBatch(h.ctx, inst, h.input, len(items))
	if err != nil {
		if failedItem < 0 || failedItem >= len(items) {
			return -1, -1, err
		}
		if failedEvent < 0 || failedEvent >= items[failedItem].n {
			failedEvent = items[failedItem].n - 1
		}
		return failedItem, failedEvent, err
	}
	for i, it := range items {
		it.w.doc = docs[i]
	}
	return -1, -1, nil
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
