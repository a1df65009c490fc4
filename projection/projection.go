package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// Tx is the unit of work a projection runs in: what it changes commits or
// rolls back together, with the append (inline) or with the processor's
// checkpoint (async).
type Tx interface {
	// Documents returns the document store bound to the transaction.
	Documents() DocumentStore
	// Unwrap returns the backend's own transaction, for projections that
	// write tables of their own: *sql.Tx for SQLite, pgx.Tx for PostgreSQL,
	// nil for the in-memory store.
	Unwrap() any
}

// Projection turns recorded events into read-model changes.
type Projection interface {
	// Name identifies the projection; async processors of it are named
	// after it unless told otherwise.
	Name() string
	// EventTypes lists the event type names the projection handles; nil
	// means every type. Events of other types are not passed to Handle
	// (and so never decoded).
	EventTypes() []string
	// Handle applies a batch of events, in log order, inside tx.
	Handle(ctx context.Context, tx Tx, events []emmett.RecordedEvent) error
	// Reset removes everything the projection wrote, before a rebuild.
	Reset(ctx context.Context, tx Tx) error
}

// Prefetcher is implemented by projections that can tell, from a batch's
// events alone, which documents their Handle reads. A store that runs
// them inline may then read those documents together with the append, in
// its round trip, and answer Handle's reads from what it read (PostgreSQL
// does, reading them as Handle would: locked). The events are passed as
// they will be recorded, but before the append: without their positions,
// transaction id and time. Ids it gets wrong cost a read and no more: a
// document Handle reads that was not prefetched is read then.
type Prefetcher interface {
	// Prefetch returns the collection and the ids of the documents Handle
	// reads for events, which are of the types the projection handles.
	Prefetch(events []emmett.RecordedEvent) (collection string, ids []string)
}

// Error is returned when a projection fails on an event: it names the
// projection and the event, and unwraps to the cause.
type Error struct {
	// Projection is the name of the failing projection.
	Projection string
	// Event is the event being applied (zero when the failure was not
	// about one event).
	Event emmett.RecordedEvent
	// Err is the cause: the projection's own error, or a failure decoding
	// the event or reading or writing a document.
	Err error
}

// Error implements error: it names the projection and, when there is one,
// the event's type, global position, stream and stream position, then the
// cause.
func (e *Error) Error() string {
	if e.Event.Type == "" {
		return fmt.Sprintf("projection %q: %v", e.Projection, e.Err)
	}
	return fmt.Sprintf("projection %q: event %q at %s (stream %q position %d): %v",
		e.Projection, e.Event.Type, eventstore.PositionOf(e.Event), e.Event.StreamName, e.Event.StreamPosition, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Position returns the global position of the failing event.
func (e *Error) Position() eventstore.Position { return eventstore.PositionOf(e.Event) }

// Evolve is a document projection's function: it takes the current document
// (nil when there is none) and an event, and returns the new document, or
// nil to delete it. It may change and return the document it was given.
type Evolve[D, E any] func(doc *D, event emmett.Recorded[E]) *D

// DocumentProjection keeps one JSON document per id in a collection. Build
// one with SingleStream or MultiStream.
type DocumentProjection[D, E any] struct {
	name       string
	base       string // the collection's name for version 1
	collection string // the collection of this version
	version    int
	events     *emmett.Events[E]
	types      []string
	indexes    []string
	ids        func(emmett.Recorded[E]) []string
	byStream   bool // a document per stream, named after it (SingleStream)
	evolve     Evolve[D, E]
}

// DocumentOption configures a document projection.
type DocumentOption func(*documentConfig)

type documentConfig struct {
	collection string
	version    int
	types      []string
	indexes    []string
}

// WithVersion declares the projection's version (1 by default). Version v
// keeps its documents in a collection of its own, VersionedName(collection,
// v), and is run by a processor of its own: bump it to rebuild the read
// model without downtime (see VersionStatus). A version below 1 panics.
func WithVersion(v int) DocumentOption {
	return func(c *documentConfig) { c.version = v }
}

// WithIndexes declares an index on each of the fields at paths (one index
// per path, in Eq's syntax: "clientId", "client.id"), for the queries
// that look documents up by them: Eq on an indexed field reads the index
// instead of every document of the collection. ContainsIndex among paths
// declares the index on whole documents that serves Contains.
//
// The projection makes sure of its indexes (DocumentStore.EnsureIndex) in
// the transaction of each batch it handles, so that they are created with
// the collection, and added to a collection that exists without them; a
// store creates the indexes of its inline projections when it opens, before
// any append. Declare the fields a query looks documents up by, not every
// field: each index costs a little on every write.
//
// A path that is not a valid index path (see ValidateIndexPath) panics, as
// an invalid collection name does.
func WithIndexes(paths ...string) DocumentOption {
	return func(c *documentConfig) { c.indexes = append(c.indexes, paths...) }
}

// WithCollection stores the documents in the named collection instead of
// one named after the projection.
func WithCollection(name string) DocumentOption {
	return func(c *documentConfig) { c.collection = name }
}

// WithEventTypes restricts the projection to some of the registry's event
// types. By default it handles every type of the registry it is given, so a
// registry of just the handled events does the same.
func WithEventTypes(types ...string) DocumentOption {
	return func(c *documentConfig) { c.types = types }
}

// SingleStream returns a projection keeping one document per stream: the
// document's id is the stream name. events decodes the events it handles.
func SingleStream[D, E any](name string, events *emmett.Events[E], evolve Evolve[D, E], opts ...DocumentOption) *DocumentProjection[D, E] {
	p := newDocumentProjection(name, events, func(e emmett.Recorded[E]) []string { return []string{e.StreamName} }, evolve, opts)
	p.byStream = true
	return p
}

// MultiStream returns a projection whose documents gather events from many
// streams: ids returns the ids of the documents an event changes.
func MultiStream[D, E any](name string, events *emmett.Events[E], ids func(emmett.Recorded[E]) []string, evolve Evolve[D, E], opts ...DocumentOption) *DocumentProjection[D, E] {
	return newDocumentProjection(name, events, ids, evolve, opts)
}

func newDocumentProjection[D, E any](name string, events *emmett.Events[E], ids func(emmett.Recorded[E]) []string, evolve Evolve[D, E], opts []DocumentOption) *DocumentProjection[D, E] {
	cfg := documentConfig{collection: name, version: 1, types: events.ReadNames()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.version < 1 {
		panic(fmt.Sprintf("projection: %s: version %d: versions count from 1", name, cfg.version))
	}
	if err := ValidateCollection(cfg.collection); err != nil {
		panic(err.Error())
	}
	if err := ValidateCollection(VersionedName(cfg.collection, cfg.version)); err != nil {
		panic(err.Error())
	}
	for _, path := range cfg.indexes {
		if err := ValidateIndexPath(path); err != nil {
			panic(err.Error())
		}
	}
	return &DocumentProjection[D, E]{name: name, base: cfg.collection, collection: VersionedName(cfg.collection, cfg.version),
		version: cfg.version, events: events, types: cfg.types,
		indexes: slices.Compact(slices.Sorted(slices.Values(cfg.indexes))), ids: ids, evolve: evolve}
}

// Name implements Projection.
func (p *DocumentProjection[D, E]) Name() string { return p.name }

// EventTypes implements Projection.
func (p *DocumentProjection[D, E]) EventTypes() []string { return p.types }

// Version implements Versioned.
func (p *DocumentProjection[D, E]) Version() int { return p.version }

// CollectionName returns the name of the collection the documents of this
// version are in: VersionedName of the collection's name (the projection's,
// or WithCollection's) and the version.
func (p *DocumentProjection[D, E]) CollectionName() string { return p.collection }

func (p *DocumentProjection[D, E]) versionCollections(v int) []string {
	return []string{VersionedName(p.base, v)}
}

// Indexes implements Indexed: the indexes declared with WithIndexes, on
// the projection's collection, in path order.
func (p *DocumentProjection[D, E]) Indexes() []Index {
	out := make([]Index, len(p.indexes))
	for i, path := range p.indexes {
		out[i] = Index{Collection: p.collection, Path: path}
	}
	return out
}

// Collection returns the typed collection of the projection's documents in
// docs (a store's document store, to read them). Where docs knows the
// projection's active version (a VersionResolver, as the stores'
// Documents() are), each call on the collection reads and writes the
// documents of the version active at that moment, whichever version p is:
// every reader switches to a new version the moment it becomes active.
// Before any version is recorded, it reads version 1's collection (a
// projection from before versions keeps its documents there). Elsewhere (a
// Tx's documents), it is the collection of p's version; read the documents
// of an inline projection that declares a version with NewCollection and
// CollectionName.
//
// Every version of a projection keeps its documents in the collection of
// one name (WithCollection's, or the projection's), suffixed by
// VersionedName: do not change it from one version to the next. Resolving
// costs a query of the store's record (an index lookup) per call.
func (p *DocumentProjection[D, E]) Collection(docs DocumentStore) Collection[D] {
	c := NewCollection[D](docs, p.collection)
	if r, ok := docs.(VersionResolver); ok {
		name, base := p.name, p.base
		c.resolve = func(ctx context.Context) (string, error) {
			v, found, err := r.ActiveVersion(ctx, name)
			if err != nil || !found {
				return base, err
			}
			return VersionedName(base, v), nil
		}
	}
	return c
}

// Handle implements Projection: each document the batch touches is read
// once, evolved through all of its events, and written (or deleted) once,
// in id order. Where tx's documents are a BatchDocumentStore, the
// documents are read with one GetMany and written with one PutMany.
func (p *DocumentProjection[D, E]) Handle(ctx context.Context, tx Tx, events []emmett.RecordedEvent) error {
	return p.prepare(events)(ctx, tx)
}

// Prefetch implements Prefetcher: the collection and the ids of the
// documents Handle reads for events. An event it cannot decode adds none:
// Handle reports it.
func (p *DocumentProjection[D, E]) Prefetch(events []emmett.RecordedEvent) (string, []string) {
	var ids []string
	if p.byStream { // the stream names them: nothing to decode
		for _, rec := range events {
			if !slices.Contains(ids, rec.StreamName) {
				ids = append(ids, rec.StreamName)
			}
		}
		return p.collection, ids
	}
	for _, rec := range events {
		typed, err := p.events.DecodeRecorded(rec)
		if err != nil {
			continue
		}
		for _, id := range p.ids(typed) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return p.collection, ids
}

// prepare implements preparer: it decodes the events and finds the ids of
// the documents each changes; the function it returns does the rest in a
// transaction.
func (p *DocumentProjection[D, E]) prepare(events []emmett.RecordedEvent) func(context.Context, Tx) error {
	typed := make([]emmett.Recorded[E], len(events))
	ids := make([][]string, len(events))
	for i, rec := range events {
		var err error
		if typed[i], err = p.events.DecodeRecorded(rec); err != nil {
			err = &Error{Projection: p.name, Event: rec, Err: err}
			return func(context.Context, Tx) error { return err }
		}
		ids[i] = p.ids(typed[i])
	}
	return func(ctx context.Context, tx Tx) error { return p.apply(ctx, tx.Documents(), typed, ids) }
}

// docState is a document a batch touches: as read, then evolved.
type docState[D any] struct {
	doc   *D
	first int // the index of the first event that touches it
}

// apply reads the documents events touch (ids[i] are those of events[i]),
// evolves them and writes them back.
func (p *DocumentProjection[D, E]) apply(ctx context.Context, docs DocumentStore, events []emmett.Recorded[E], ids [][]string) error {
	for _, path := range p.indexes {
		if err := docs.EnsureIndex(ctx, p.collection, path); err != nil {
			return &Error{Projection: p.name, Err: err}
		}
	}
	touched := map[string]*docState[D]{}
	var order []string // in the order of their first event
	for i := range events {
		for _, id := range ids[i] {
			if _, ok := touched[id]; !ok {
				touched[id] = &docState[D]{first: i}
				order = append(order, id)
			}
		}
	}
	decode := func(id string, data []byte) error {
		st := touched[id]
		st.doc = new(D)
		if err := json.Unmarshal(data, st.doc); err != nil {
			return &Error{Projection: p.name, Event: events[st.first].RecordedEvent, Err: fmt.Errorf("decoding document %q: %w", id, err)}
		}
		return nil
	}
	batch, _ := docs.(BatchDocumentStore)
	if batch != nil && len(order) > 0 {
		if err := batch.GetMany(ctx, p.collection, order, decode); err != nil {
			var perr *Error
			if errors.As(err, &perr) {
				return err
			}
			return &Error{Projection: p.name, Err: err}
		}
	} else {
		for _, id := range order {
			data, found, err := docs.Get(ctx, p.collection, id)
			if err != nil {
				return &Error{Projection: p.name, Event: events[touched[id].first].RecordedEvent, Err: err}
			}
			if found {
				if err := decode(id, data); err != nil {
					return err
				}
			}
		}
	}
	for i, e := range events {
		for _, id := range ids[i] {
			st := touched[id]
			st.doc = p.evolve(st.doc, e)
		}
	}
	slices.Sort(order) // a stable lock order for concurrent transactions
	var puts []Document
	for _, id := range order {
		doc := touched[id].doc
		if doc == nil {
			if err := docs.Delete(ctx, p.collection, id); err != nil {
				return &Error{Projection: p.name, Err: err}
			}
			continue
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return &Error{Projection: p.name, Err: fmt.Errorf("encoding document %q: %w", id, err)}
		}
		if batch != nil {
			puts = append(puts, Document{ID: id, Data: data})
		} else if err := docs.Put(ctx, p.collection, id, data); err != nil {
			return &Error{Projection: p.name, Err: err}
		}
	}
	if len(puts) > 0 {
		if err := batch.PutMany(ctx, p.collection, puts); err != nil {
			return &Error{Projection: p.name, Err: err}
		}
	}
	return nil
}

// Reset implements Projection: it deletes every document.
func (p *DocumentProjection[D, E]) Reset(ctx context.Context, tx Tx) error {
	return tx.Documents().DeleteAll(ctx, p.collection)
}

// CustomProjection runs a handler of the application's over batches of
// typed events. Build one with Custom.
type CustomProjection[E any] struct {
	name    string
	version int
	events  *emmett.Events[E]
	types   []string
	handle  func(ctx context.Context, tx Tx, events []emmett.Recorded[E]) error
	reset   func(ctx context.Context, tx Tx) error
}

// CustomOption configures a custom projection.
type CustomOption func(*customConfig)

type customConfig struct{ version int }

// CustomVersion declares a custom projection's version (1 by default). A
// processor runs each version apart, with a checkpoint of its own, and
// Collection-less readers learn the active one with ActiveVersion: a custom
// projection keeps each version's tables apart itself (name them with
// VersionedName). A version below 1 panics.
func CustomVersion(v int) CustomOption { return func(c *customConfig) { c.version = v } }

// Custom returns a projection that decodes the events of the registry's
// types and passes each batch to handle. reset removes what it wrote, for a
// rebuild; nil means there is nothing to remove.
func Custom[E any](name string, events *emmett.Events[E], handle func(ctx context.Context, tx Tx, events []emmett.Recorded[E]) error,
	reset func(ctx context.Context, tx Tx) error, opts ...CustomOption) *CustomProjection[E] {
	cfg := customConfig{version: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.version < 1 {
		panic(fmt.Sprintf("projection: %s: version %d: versions count from 1", name, cfg.version))
	}
	return &CustomProjection[E]{name: name, version: cfg.version, events: events, types: events.ReadNames(), handle: handle, reset: reset}
}

// Name implements Projection.
func (p *CustomProjection[E]) Name() string { return p.name }

// Version implements Versioned.
func (p *CustomProjection[E]) Version() int { return p.version }

// EventTypes implements Projection.
func (p *CustomProjection[E]) EventTypes() []string { return p.types }

// Handle implements Projection.
func (p *CustomProjection[E]) Handle(ctx context.Context, tx Tx, events []emmett.RecordedEvent) error {
	return p.prepare(events)(ctx, tx)
}

// prepare implements preparer: it decodes the events; the function it
// returns passes them to the handler.
func (p *CustomProjection[E]) prepare(events []emmett.RecordedEvent) func(context.Context, Tx) error {
	typed := make([]emmett.Recorded[E], len(events))
	for i, rec := range events {
		var err error
		if typed[i], err = p.events.DecodeRecorded(rec); err != nil {
			err = &Error{Projection: p.name, Event: rec, Err: err}
			return func(context.Context, Tx) error { return err }
		}
	}
	return func(ctx context.Context, tx Tx) error {
		if err := p.handle(ctx, tx, typed); err != nil {
			var perr *Error
			if errors.As(err, &perr) {
				return err
			}
			return &Error{Projection: p.name, Err: err}
		}
		return nil
	}
}

// preparer is implemented by the projections whose Handle has work that
// needs no transaction (decoding the events): prepare does it and returns
// the rest, to run in a transaction, once; Handle is the two in turn. A
// processor on a Pipeliner source prepares a batch while it applies the
// one before.
type preparer interface {
	prepare(events []emmett.RecordedEvent) func(context.Context, Tx) error
}

// Reset implements Projection.
func (p *CustomProjection[E]) Reset(ctx context.Context, tx Tx) error {
	if p.reset == nil {
		return nil
	}
	return p.reset(ctx, tx)
}
