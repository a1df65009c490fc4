package wasm

import (
	"bytes"
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
	fields  fieldSet        // the envelope members the module reads
}

// NewTransformer returns the transformation of m; the module must describe
// one.
func NewTransformer(m *Module) (*Transformer, error) {
	d := m.desc.Transform
	if d == nil {
		return nil, fmt.Errorf("%w: module %q describes no transform", ErrABI, m.name)
	}
	t := &Transformer{module: m, fields: fieldsOf(d.Fields)}
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
	out, _, err := t.transformRead(ctx, []emmett.RecordedEvent{e}, nil, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxReadAhead is the number of events a read transformed by a module of
// ABI version 2 gathers for one call (Seq).
const maxReadAhead = 256

// transformRead transforms events, all of types the transformer handles,
// as read: it appends the events that replace each one to out, in order
// (see Transform), and their number to counts. A module of version 2 gets
// as many events per call as fit (maxCallEvents, maxCallBytes), one of
// version 1 one per call. On failure it returns the results of the events
// before the failing one, and a *TransformError at that event.
func (t *Transformer) transformRead(ctx context.Context, events []emmett.RecordedEvent, out []emmett.RecordedEvent, counts []int) ([]emmett.RecordedEvent, []int, error) {
	enc := encoded{fields: t.fields}
	if b, ok := buffers.Get().(*handlerBuffers); ok {
		enc.buf = b.buf[:0]
	}
	defer func() {
		if cap(enc.buf) <= maxKeptBuffers {
			buffers.Put(&handlerBuffers{buf: enc.buf})
		}
	}()
	first := 0
	for i, e := range events {
		if err := enc.add(e); err != nil {
			return out, counts, &TransformError{Module: t.module.name, Event: e, Index: -1, Err: err}
		}
		if t.module.abi < 2 || i == len(events)-1 || len(enc.spans) == maxCallEvents || len(enc.buf)+enc.peek(events[i+1]) > maxCallBytes {
			var err error
			if out, counts, err = t.readCall(ctx, events[first:i+1], &enc, out, counts); err != nil {
				return out, counts, err
			}
			enc.reset()
			first = i + 1
		}
	}
	return out, counts, nil
}

// readCall transforms events, encoded in enc, in one call (see
// transformRead). When the call fails without saying which event failed (a
// trap, a timeout, a malformed result), the events are transformed again
// one at a time, on a fresh instance, to find it.
func (t *Transformer) readCall(ctx context.Context, events []emmett.RecordedEvent, enc *encoded, out []emmett.RecordedEvent, counts []int) ([]emmett.RecordedEvent, []int, error) {
	fail := func(e emmett.RecordedEvent, err error) error {
		return &TransformError{Module: t.module.name, Event: e, Index: -1, Err: err}
	}
	results, failed, err := t.call(ctx, enc)
	if err == nil {
		for i, e := range events {
			n := len(out)
			var err error
			if out, err = t.appendRead(out, e, results[i], enc.metadata(i)); err != nil {
				return out[:n], counts, fail(e, err)
			}
			counts = append(counts, len(out)-n)
		}
		return out, counts, nil
	}
	if len(events) == 1 {
		return out, counts, fail(events[0], err)
	}
	if failed < 0 || failed >= len(events) {
		if ctx.Err() != nil {
			return out, counts, fail(events[len(events)-1], err)
		}
		// Find the failing event, one at a time.
		for _, e := range events {
			one := encoded{fields: t.fields}
			if err := one.add(e); err != nil {
				return out, counts, fail(e, err)
			}
			var oneErr error
			if out, counts, oneErr = t.readCall(ctx, []emmett.RecordedEvent{e}, &one, out, counts); oneErr != nil {
				return out, counts, oneErr
			}
		}
		// Not reproduced: blame the last.
		return out, counts, fail(events[len(events)-1], err)
	}
	// The module named the failing event: those before it go through
	// again, for their results.
	if failed > 0 {
		before := encoded{fields: t.fields}
		for _, e := range events[:failed] {
			if err := before.add(e); err != nil {
				return out, counts, fail(e, err)
			}
		}
		var beforeErr error
		if out, counts, beforeErr = t.readCall(ctx, events[:failed], &before, out, counts); beforeErr != nil {
			return out, counts, beforeErr
		}
	}
	return out, counts, fail(events[failed], err)
}

// readEvents appends events to dst in order, those of types the
// transformer handles replaced by what it returns for them (see
// Transform). On failure dst holds the events up to the failing one.
func (t *Transformer) readEvents(ctx context.Context, events, dst []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	var handled []emmett.RecordedEvent
	for _, e := range events {
		if t.Handles(e.Type) {
			handled = append(handled, e)
		}
	}
	results, counts, err := t.transformRead(ctx, handled, nil, nil)
	j, k := 0, 0 // the next count and result
	for _, e := range events {
		if !t.Handles(e.Type) {
			dst = append(dst, e)
			continue
		}
		if j == len(counts) {
			break // the failing event
		}
		dst = append(dst, results[k:k+counts[j]]...)
		k += counts[j]
		j++
	}
	return dst, err
}

// appendRead appends the events that replace e, the module's results r,
// to out (see Transform). metadata is e's metadata as the module was given
// it: a result with the same keeps e's (as it is, not decoded again).
func (t *Transformer) appendRead(out []emmett.RecordedEvent, e emmett.RecordedEvent, r []resultEvent, metadata []byte) ([]emmett.RecordedEvent, error) {
	for i, r := range r {
		next := e
		next.Type, next.Data, next.MessageID = r.Type, r.Data, messageID(e.MessageID, r.MessageID, i)
		if r.SchemaVersion > 0 {
			next.SchemaVersion = r.SchemaVersion
		}
		if r.Metadata != nil && !bytes.Equal(r.Metadata, metadata) {
			var err error
			if next.Metadata, err = decodeMetadata(r.Metadata); err != nil {
				return out, t.module.malformedEvent(i, err)
			}
		}
		out = append(out, next)
	}
	return out, nil
}

// encoded is the input of a call: the envelopes of events, with the
// members the module reads.
type encoded struct {
	fields fieldSet
	buf    []byte
	spans  []span // each envelope's, in buf
}

// span is an envelope's bounds in encoded.buf, and its metadata's.
type span struct{ start, end, mdStart, mdEnd int }

func (enc *encoded) reset() {
	enc.buf = enc.buf[:0]
	enc.spans = enc.spans[:0]
}

func (enc *encoded) add(e emmett.RecordedEvent) error {
	start := len(enc.buf)
	var md [2]int
	var err error
	if enc.buf, err = appendEventSpan(enc.buf, e, enc.fields, &md); err != nil {
		enc.buf = enc.buf[:start]
		return err
	}
	enc.spans = append(enc.spans, span{start, len(enc.buf), md[0], md[1]})
	return nil
}

// addData adds an event about to be appended to stream.
func (enc *encoded) addData(stream string, e eventstore.EventData) error {
	start := len(enc.buf)
	var md [2]int
	var err error
	if enc.buf, err = appendEventDataSpan(enc.buf, stream, e, enc.fields, &md); err != nil {
		enc.buf = enc.buf[:start]
		return err
	}
	enc.spans = append(enc.spans, span{start, len(enc.buf), md[0], md[1]})
	return nil
}

// peek estimates the size of e's envelope, to decide before encoding it
// whether it fits in a call.
func (enc *encoded) peek(e emmett.RecordedEvent) int {
	return len(e.Data) + len(e.Type) + len(e.StreamName) + 256
}

func (enc *encoded) metadata(i int) []byte { return enc.buf[enc.spans[i].mdStart:enc.spans[i].mdEnd] }

// input returns the input of a call: the envelope alone (version 1) or
// {"events": [...]}, in scratch.
func (enc *encoded) input(abi int, scratch []byte) []byte {
	if abi < 2 {
		return enc.buf
	}
	in := append(scratch[:0], `{"events":[`...)
	for i, sp := range enc.spans {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, enc.buf[sp.start:sp.end]...)
	}
	return append(in, "]}"...)
}

// TransformAppend transforms events about to be appended to stream. Each
// result takes the module's type, data and metadata (the original's
// metadata when the module gives none) and the original's schema version
// (the module's, when it gives one); the first keeps the original's
// message id unless the module sets one, the others get one derived from it
// (or a new one from the store when the original had none). A module of
// ABI version 2 gets the events in as few calls as the limits allow.
func (t *Transformer) TransformAppend(ctx context.Context, stream string, events []eventstore.EventData) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, 0, len(events))
	enc := encoded{fields: t.fields}
	var pending []int // indexes of the events encoded
	fail := func(i int, err error) error {
		e := events[i]
		rec := emmett.RecordedEvent{MessageID: e.MessageID, Type: e.Type, Data: e.Data, Metadata: e.Metadata, StreamName: stream}
		return &TransformError{Module: t.module.name, Event: rec, Index: i, Err: err}
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		results, failed, err := t.call(ctx, &enc)
		if err != nil {
			if failed < 0 || failed >= len(pending) {
				failed = len(pending) - 1
				if len(pending) > 1 && ctx.Err() == nil {
					// Find the failing event, one at a time.
					for k, i := range pending {
						one := encoded{fields: t.fields}
						if one.addData(stream, events[i]) != nil {
							continue
						}
						if _, _, oneErr := t.call(ctx, &one); oneErr != nil {
							failed, err = k, oneErr
							break
						}
					}
				}
			}
			return fail(pending[failed], err)
		}
		for k, i := range pending {
			e := events[i]
			for j, r := range results[k] {
				next := eventstore.EventData{MessageID: messageID(e.MessageID, r.MessageID, j), Type: r.Type, Data: r.Data, Metadata: e.Metadata,
					SchemaVersion: e.SchemaVersion}
				if r.SchemaVersion > 0 {
					next.SchemaVersion = r.SchemaVersion
				}
				if r.Metadata != nil && !bytes.Equal(r.Metadata, enc.metadata(k)) {
					if next.Metadata, err = decodeMetadata(r.Metadata); err != nil {
						return fail(i, t.module.malformedEvent(j, err))
					}
				}
				out = append(out, next)
			}
		}
		enc.reset()
		pending = pending[:0]
		return nil
	}
	for i, e := range events {
		if !t.Handles(e.Type) {
			if err := flush(); err != nil {
				return nil, err
			}
			out = append(out, e)
			continue
		}
		if len(pending) > 0 && (t.module.abi < 2 || len(pending) == maxCallEvents || len(enc.buf)+len(e.Data)+len(e.Type)+len(stream)+256 > maxCallBytes) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if err := enc.addData(stream, e); err != nil {
			return nil, fail(i, err)
		}
		pending = append(pending, i)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// Seq transforms the events of a read as they come: use it on the
// sequences of eventstore.StreamReader.ReadStream and
// eventstore.GlobalReader.ReadAll. A failing transformation ends the
// sequence with a *TransformError, after the events before the failing
// one. With a module of ABI version 2, Seq reads up to 256 events ahead
// of what it yields, to transform them in one call.
func (t *Transformer) Seq(ctx context.Context, events iter.Seq2[emmett.RecordedEvent, error]) iter.Seq2[emmett.RecordedEvent, error] {
	if t.module.abi < 2 {
		return t.seqOneByOne(ctx, events)
	}
	return func(yield func(emmett.RecordedEvent, error) bool) {
		var ahead, out []emmett.RecordedEvent // read ahead; transformed
		handled := 0                          // of the events read ahead
		// flush transforms the events read ahead and yields them; false
		// when the sequence ends.
		flush := func() bool {
			if len(ahead) == 0 {
				return true
			}
			var err error
			out, err = t.readEvents(ctx, ahead, out[:0])
			for _, e := range out {
				if !yield(e, nil) {
					return false
				}
			}
			if err != nil {
				yield(emmett.RecordedEvent{}, err)
				return false
			}
			ahead, handled = ahead[:0], 0
			return true
		}
		for e, err := range events {
			if err != nil {
				if flush() {
					yield(e, err)
				}
				return
			}
			ahead = append(ahead, e)
			if t.Handles(e.Type) {
				if handled++; handled == maxReadAhead && !flush() {
					return
				}
			}
		}
		flush()
	}
}

// seqOneByOne is Seq for a module of version 1: one call per event.
func (t *Transformer) seqOneByOne(ctx context.Context, events iter.Seq2[emmett.RecordedEvent, error]) iter.Seq2[emmett.RecordedEvent, error] {
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

// call calls the module with the events of enc, on an instance of its
// own: emmett_transform_batch (version 2) or emmett_transform (version 1,
// one event).
func (t *Transformer) call(ctx context.Context, enc *encoded) ([][]resultEvent, int, error) {
	m := t.module
	inst, err := m.acquire(ctx)
	if err != nil {
		return nil, -1, err
	}
	defer m.release(inst)
	if m.abi >= 2 {
		inst.scratch = enc.input(m.abi, inst.scratch)
		return m.transformBatch(ctx, inst, inst.scratch, len(enc.spans))
	}
	res, err := m.transform(ctx, inst, enc.buf)
	if err != nil {
		return nil, -1, err
	}
	return [][]resultEvent{res}, -1, nil
}

// transform calls emmett_transform (version 1) with an event's envelope.
func (m *Module) transform(ctx context.Context, inst *instance, input []byte) ([]resultEvent, error) {
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
	if !slices.ContainsFunc(events, func(e emmett.RecordedEvent) bool { return t.Handles(e.Type) }) {
		return events, nil
	}
	out, err := t.readEvents(ctx, events, (*buf)[:0])
	if err != nil {
		return nil, err
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
