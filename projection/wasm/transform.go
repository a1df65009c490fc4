package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/google/uuid"
)

// Transformer applies a module's event transformation: to events as they
// are read (upcasting old shapes to new ones, so that aggregates, command
// handlers and processors only see the new), or to events before they are
// appended. Events of types the module does not transform pass untouched,
// without a call into the module.
//
// Wrap a store with NewStore to apply it on every read or append, or call
// its methods directly. A Transformer is safe for concurrent use.
type Transformer struct {
	module  *Module
	typeSet map[string]bool // nil: every type
}

// NewTransformer returns the transformation of m; the module must describe
// one.
func NewTransformer(m *Module) (*Transformer, error) {
	d := m.desc.Transform
	if d == nil {
		return nil, fmt.Errorf("%w: module %q describes no transform", ErrABI, m.name)
	}
	t := &Transformer{module: m}
	if d.EventTypes != nil {
		t.typeSet = make(map[string]bool, len(d.EventTypes))
		for _, typ := range d.EventTypes {
			t.typeSet[typ] = true
		}
	}
	return t, nil
}

// Module returns the transformer's module.
func (t *Transformer) Module() *Module { return t.module }

// Handles reports whether the transformer changes events of the type.
func (t *Transformer) Handles(eventType string) bool {
	return t.typeSet == nil || t.typeSet[eventType]
}

// Transform transforms a recorded event as it is read. The events it
// returns keep e's envelope (stream, positions, creation time) with the
// module's type, data and metadata (e's metadata when the module gives
// none), and e's schema version unless the module gives another (an
// upcasting module says which version it returns). The first keeps e's message id unless the module sets another;
// the others get the one the module sets, or else (also when it is e's) an
// id derived from e's, the same on every read.
//
// Several events returned for one share its positions; none drops it.
// aggregate.Load takes a stream's version from the events it reads, so
// dropping a stream's last event on read makes the version it returns
// stale: prefer transformations that return exactly one event on read.
func (t *Transformer) Transform(ctx context.Context, e emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	if !t.Handles(e.Type) {
		return []emmett.RecordedEvent{e}, nil
	}
	fail := func(err error) error { return &TransformError{Module: t.module.name, Event: e, Index: -1, Err: err} }
	input, err := appendEvent(nil, e)
	if err != nil {
		return nil, fail(err)
	}
	results, err := t.transform(ctx, input)
	if err != nil {
		return nil, fail(err)
	}
	out := make([]emmett.RecordedEvent, len(results))
	for i, r := range results {
		out[i] = e
		out[i].Type, out[i].Data, out[i].MessageID = r.Type, r.Data, messageID(e.MessageID, r.MessageID, i)
		if r.SchemaVersion > 0 {
			out[i].SchemaVersion = r.SchemaVersion
		}
		if r.Metadata != nil {
			if out[i].Metadata, err = decodeMetadata(r.Metadata); err != nil {
				return nil, fail(t.module.malformedEvent(i, err))
			}
		}
	}
	return out, nil
}

// TransformAppend transforms events about to be appended to stream. Each
// result takes the module's type, data and metadata (the original's
// metadata when the module gives none) and the original's schema version
// (the module's, when it gives one); the first keeps the original's
// message id unless the module sets one, the others get one derived from it
// (or a new one from the store when the original had none).
func (t *Transformer) TransformAppend(ctx context.Context, stream string, events []eventstore.EventData) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, 0, len(events))
	var input []byte
	for i, e := range events {
		if !t.Handles(e.Type) {
			out = append(out, e)
			continue
		}
		fail := func(err error) error {
			rec := emmett.RecordedEvent{MessageID: e.MessageID, Type: e.Type, Data: e.Data, Metadata: e.Metadata, StreamName: stream}
			return &TransformError{Module: t.module.name, Event: rec, Index: i, Err: err}
		}
		var err error
		if input, err = appendEventData(input[:0], stream, e); err != nil {
			return nil, fail(err)
		}
		results, err := t.transform(ctx, input)
		if err != nil {
			return nil, fail(err)
		}
		for j, r := range results {
			next := eventstore.EventData{MessageID: messageID(e.MessageID, r.MessageID, j), Type: r.Type, Data: r.Data, Metadata: e.Metadata,
				SchemaVersion: e.SchemaVersion}
			if r.SchemaVersion > 0 {
				next.SchemaVersion = r.SchemaVersion
			}
			if r.Metadata != nil {
				if next.Metadata, err = decodeMetadata(r.Metadata); err != nil {
					return nil, fail(t.module.malformedEvent(j, err))
				}
			}
			out = append(out, next)
		}
	}
	return out, nil
}

// Seq transforms the events of a read as they come: use it on the
// sequences of eventstore.StreamReader.ReadStream and
// eventstore.GlobalReader.ReadAll. A failing transformation ends the
// sequence with a *TransformError.
func (t *Transformer) Seq(ctx context.Context, events iter.Seq2[emmett.RecordedEvent, error]) iter.Seq2[emmett.RecordedEvent, error] {
	return func(yield func(emmett.RecordedEvent, error) bool) {
		for e, err := range events {
			if err != nil || !t.Handles(e.Type) {
				if !yield(e, err) {
					return
				}
				continue
			}
			out, err := t.Transform(ctx, e)
			if err != nil {
				yield(emmett.RecordedEvent{}, err)
				return
			}
			for _, o := range out {
				if !yield(o, nil) {
					return
				}
			}
		}
	}
}

// transform calls emmett_transform with an event's envelope, on an
// instance of its own.
func (t *Transformer) transform(ctx context.Context, input []byte) ([]resultEvent, error) {
	m := t.module
	inst, err := m.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer m.release(inst)
	out, err := m.call(ctx, inst, exportTransform, inst.fn(exportTransform), input)
	if err != nil {
		return nil, err
	}
	var r transformResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, m.malformed(inst, exportTransform, out, err)
	}
	switch {
	case r.Error != nil:
		return nil, m.guestError(exportTransform, *r.Error)
	case r.Events == nil:
		return nil, m.malformed(inst, exportTransform, out, errors.New("no events or error"))
	}
	for i, e := range *r.Events {
		switch {
		case e.Type == "":
			return nil, m.malformed(inst, exportTransform, out, fmt.Errorf("event %d has no type", i))
		case e.Data == nil:
			return nil, m.malformed(inst, exportTransform, out, fmt.Errorf("event %d has no data", i))
		}
	}
	return *r.Events, nil
}

func (m *Module) malformedEvent(i int, err error) error {
	return &CallError{Module: m.name, Function: exportTransform, Kind: ErrMalformedResult,
		Detail: fmt.Sprintf("metadata of event %d: %v", i, err)}
}

func decodeMetadata(raw json.RawMessage) (emmett.Metadata, error) {
	var md emmett.Metadata
	err := json.Unmarshal(raw, &md)
	return md, err
}

// messageIDSpace is the UUID namespace of the message ids derived for the
// second and later events a transformation returns.
var messageIDSpace = uuid.MustParse("5b0b3a5e-36c1-4e53-9b8e-1f8d2c7a9e41")

// messageID is the message id of the i-th event a transformation returned
// for an event with id original: the one the module set, else original
// for the first, else one derived from original and i. Only the first may
// keep the original's (a module that copies the envelope into each event
// it returns copies the id too).
func messageID(original, set string, i int) string {
	switch {
	case set != "" && (i == 0 || set != original):
		return set
	case i == 0 || original == "":
		return original
	}
	return uuid.NewSHA1(messageIDSpace, []byte(original+"/"+strconv.Itoa(i))).String()
}

// Store is an event store whose events are transformed as they are read,
// before they are appended, or both. Command handlers and aggregate.Load
// given a Store see the transformed events; so does a processor fed by a
// polling source over it (backend.NewPollingSource). To
// feed processors from the wrapped store's own source (one woken by its
// appends, or PostgreSQL logical replication), wrap that source with
// NewSource; to use the wrapped store as an application's backend, with
// its documents and checkpoints, see NewBackendStore.
//
// Inline projections of the wrapped store run on the events as they are
// stored (after TransformBeforeAppend, before any TransformOnRead).
type Store struct {
	inner         eventstore.Store
	onRead        *Transformer
	beforeAppend  *Transformer
	maxEventBytes int
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// TransformOnRead transforms every event read through the store.
func TransformOnRead(t *Transformer) StoreOption { return func(s *Store) { s.onRead = t } }

// TransformBeforeAppend transforms every event appended through the store.
func TransformBeforeAppend(t *Transformer) StoreOption {
	return func(s *Store) { s.beforeAppend = t }
}

// WithMaxEventBytes sets the largest event (data plus metadata, in bytes)
// that an append passes to TransformBeforeAppend's module: give the limit
// the wrapped store was opened with (eventstore.DefaultMaxEventBytes by
// default). The wrapped store checks what the module returns against its
// own limit.
func WithMaxEventBytes(n int) StoreOption { return func(s *Store) { s.maxEventBytes = n } }

// NewStore wraps inner.
func NewStore(inner eventstore.Store, opts ...StoreOption) *Store {
	s := &Store{inner: inner, maxEventBytes: eventstore.DefaultMaxEventBytes}
	for _, o := range opts {
		o(s)
	}
	return s
}

var (
	_ eventstore.Store = (*Store)(nil)
	_ backend.Log      = (*Store)(nil)
)

// Inner returns the wrapped store.
func (s *Store) Inner() eventstore.Store { return s.inner }

// AppendToStream implements eventstore.Appender: it transforms the events,
// then appends what the transformation returned. Bad input (a stream name,
// an event without a type, data that is not JSON, an event over the size
// limit: see WithMaxEventBytes) is refused as the wrapped store refuses it,
// before the module sees it. A failing transformation appends nothing and
// returns a *TransformError.
func (s *Store) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	if s.beforeAppend != nil {
		// The wrapped store prepares what the module returns; this only
		// checks the input, the same way.
		if _, err := backend.Prepare(ctx, stream, events, backend.ResolveAppend(opts...), s.maxEventBytes); err != nil {
			return eventstore.AppendResult{}, err
		}
		var err error
		if events, err = s.beforeAppend.TransformAppend(ctx, stream, events); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return s.inner.AppendToStream(ctx, stream, events, opts...)
}

// ReadStream implements eventstore.StreamReader.
func (s *Store) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	seq := s.inner.ReadStream(ctx, stream, opts...)
	if s.onRead == nil {
		return seq
	}
	return s.onRead.Seq(ctx, seq)
}

// StreamVersion implements eventstore.StreamReader.
func (s *Store) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	return s.inner.StreamVersion(ctx, stream, opts...)
}

// ReadAll implements eventstore.GlobalReader.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	seq := s.inner.ReadAll(ctx, after, opts...)
	if s.onRead == nil {
		return seq
	}
	return s.onRead.Seq(ctx, seq)
}

// ResolvePosition implements eventstore.PositionResolver: the wrapped
// store's.
func (s *Store) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	return s.inner.ResolvePosition(ctx, p)
}

// Head implements backend.Log when the wrapped store does.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	log, ok := s.inner.(backend.Log)
	if !ok {
		return eventstore.Position{}, fmt.Errorf("wasm: %T has no Head: it is not a backend.Log", s.inner)
	}
	return log.Head(ctx)
}

// transformBatch returns the events transformed, in order: events itself
// when the transformer handles none of them, else the results in *buf
// (reused, and grown as needed).
func (t *Transformer) transformBatch(ctx context.Context, events []emmett.RecordedEvent, buf *[]emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	first := slices.IndexFunc(events, func(e emmett.RecordedEvent) bool { return t.Handles(e.Type) })
	if first < 0 {
		return events, nil
	}
	out := append((*buf)[:0], events[:first]...)
	for _, e := range events[first:] {
		if !t.Handles(e.Type) {
			out = append(out, e)
			continue
		}
		res, err := t.Transform(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	*buf = out
	return out, nil
}

// NewSource returns a projection.Source that transforms (as Transform does
// on read) the events of each batch of inner before passing the batch on:
// give it to projection.NewProjectionProcessor or NewReactorProcessor, or to an HTTP event
// stream, so that they see the transformed events whichever source feeds
// them (a store's polling Source, PostgreSQL logical replication). A
// batch keeps its End, so checkpoints are positions of the stored log;
// the events' positions are their originals' (see Transform).
//
// A failing transformation ends Subscribe with a *TransformError naming
// the event and its position, before the batch reaches the processor: the
// processor stops with that error, its checkpoint and read model where
// they were, and resumes at that batch once restarted.
//
// Head and Target are inner's. The source is a projection.Counter when
// inner is one; it counts the events as stored, so a rebuild's progress
// is approximate when the transformation splits or drops events.
func NewSource(inner projection.Source, t *Transformer) projection.Source {
	s := &source{inner: inner, t: t}
	if c, ok := inner.(projection.Counter); ok {
		return &countingSource{source: s, counter: c}
	}
	return s
}

type source struct {
	inner projection.Source
	t     *Transformer
}

// Subscribe implements projection.Source.
func (s *source) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	// Reused from batch to batch, as a polling source reuses its own:
	// handle is called from one goroutine at a time and keeps no events.
	var buf []emmett.RecordedEvent
	return s.inner.Subscribe(ctx, after, func(ctx context.Context, b projection.Batch) error {
		events, err := s.t.transformBatch(ctx, b.Events, &buf)
		if err != nil {
			return err
		}
		return handle(ctx, projection.Batch{Events: events, End: b.End})
	})
}

// Head implements projection.Source.
func (s *source) Head(ctx context.Context) (eventstore.Position, error) { return s.inner.Head(ctx) }

// Target implements projection.Source.
func (s *source) Target(ctx context.Context, appended eventstore.Position) (eventstore.Position, error) {
	return s.inner.Target(ctx, appended)
}

type countingSource struct {
	*source
	counter projection.Counter
}

// Count implements projection.Counter.
func (s *countingSource) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	return s.counter.Count(ctx, after, upTo)
}

// Backend is a store an application runs on, as the in-memory, SQLite and
// PostgreSQL stores are: events, the documents of read models, processors'
// checkpoints and locks, and a polling feed of its global log.
type Backend interface {
	eventstore.Store
	backend.Log
	// Processors returns the store's processor checkpoints and locks.
	Processors() projection.CheckpointStore
	// Documents returns the store's document collections.
	Documents() projection.DocumentStore
	// Source returns a polling feed of the store's global log.
	Source(opts ...projection.PollOption) projection.Source
}

// BackendStore is a Store over a Backend: it stands where the application
// uses its backend. Its events are transformed as a Store's are; its
// documents, checkpoints and locks are the backend's (read models are not
// events: nothing transforms them); its Source is the backend's, with its
// batches transformed on read (see NewSource). So a processor given a
// BackendStore's Processors and Source sees the
// transformed events, and commits to the backend.
//
// Inline projections of the backend run on the events as they are stored,
// as for Store.
type BackendStore struct {
	*Store
	backend Backend
}

var (
	_ eventstore.Store = (*BackendStore)(nil)
	_ backend.Log      = (*BackendStore)(nil)
)

// NewBackendStore wraps backend.
func NewBackendStore(backend Backend, opts ...StoreOption) *BackendStore {
	return &BackendStore{Store: NewStore(backend, opts...), backend: backend}
}

// Backend returns the wrapped backend.
func (s *BackendStore) Backend() Backend { return s.backend }

// Documents returns the backend's document collections.
func (s *BackendStore) Documents() projection.DocumentStore { return s.backend.Documents() }

// Source returns the backend's polling feed of its global log, its events
// transformed on read (see NewSource) when the store transforms on read.
func (s *BackendStore) Source(opts ...projection.PollOption) projection.Source {
	src := s.backend.Source(opts...)
	if s.onRead == nil {
		return src
	}
	return NewSource(src, s.onRead)
}

// Processors returns the backend's processor checkpoints and locks.
func (s *BackendStore) Processors() projection.CheckpointStore { return s.backend.Processors() }
