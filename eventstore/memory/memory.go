// Package memory is an in-memory event store: for tests, prototypes and
// examples. It implements the whole eventstore contract and the projection
// backend (documents, inline projections, processors' checkpoints and
// locks, a polling source), is safe for concurrent use, and keeps
// everything in the process's memory.
//
// Appends and reads are traced and measured with OpenTelemetry, as in
// every backend (see WithTelemetry and the telemetry package).
package memory

import (
	"cmp"
	"context"
	"encoding/json"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// Store is an in-memory event store. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	streams map[streamKey]*stream
	log     []entry // the global log; log[i] has global position i+1
	closed  bool

	docs        map[string]collection
	checkpoints map[string]eventstore.Position
	locks       map[string]chan struct{} // held processor locks; closed on release
	parked      parkedSet                // events processors parked
	versions    map[versionKey]projection.ProjectionVersion
	instances   memberTable // heartbeat rows of processor groups
	appended    backend.Signal

	cfg config
	tel *instrument.Store
}

// config is what the Options of a Store set.
type config struct {
	inline        []projection.Projection
	maxEventBytes int
	now           func() time.Time
	telemetry     telemetry.Config
}

type streamKey struct{ partition, name string }

type stream struct {
	positions []int64          // global positions of the stream's events, in order
	ids       map[string]int64 // stream position by message id
}

type entry struct {
	partition string
	event     emmett.RecordedEvent
}

// Option configures a Store.
type Option func(*config)

// WithMaxEventBytes sets the largest event (data plus metadata) accepted.
func WithMaxEventBytes(n int) Option { return func(c *config) { c.maxEventBytes = n } }

// WithProjections registers inline projections: they run inside each
// append, and an error in one rolls the append back.
func WithProjections(ps ...projection.Projection) Option {
	return func(c *config) { c.inline = append(c.inline, ps...) }
}

// WithClock sets the clock that stamps recorded events.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithTelemetry sets where the store's spans and measurements go (appends
// and reads; see the telemetry package); the global OpenTelemetry
// providers by default.
func WithTelemetry(cfg telemetry.Config) Option { return func(c *config) { c.telemetry = cfg } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		streams:     make(map[streamKey]*stream),
		docs:        make(map[string]collection),
		checkpoints: make(map[string]eventstore.Position),
		versions:    make(map[versionKey]projection.ProjectionVersion),
		locks:       make(map[string]chan struct{}),
		cfg:         config{maxEventBytes: eventstore.DefaultMaxEventBytes, now: time.Now},
	}
	for _, o := range opts {
		if o != nil {
			o(&s.cfg)
		}
	}
	s.tel = instrument.NewStore(s.cfg.telemetry, scope, "memory", trace.SpanKindInternal)
	return s
}

// scope is the instrumentation scope of the store's telemetry.
const scope = "github.com/emmett-go/emmett/eventstore/memory"

// Close makes every later call fail with eventstore.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var _ eventstore.Store = (*Store)(nil)

// AppendToStream implements eventstore.Appender.
func (s *Store) AppendToStream(ctx context.Context, name string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return instrument.Append(ctx, s.tel, s, name, events, opts, (*Store).appendToStream)
}

func (s *Store) appendToStream(ctx context.Context, name string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	o := backend.ResolveAppend(opts...)
	prepared, err := backend.Prepare(ctx, name, events, o, s.cfg.maxEventBytes)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	// Metadata goes through its JSON form, as in every other backend: the
	// store keeps no reference to the caller's maps, and what is read back
	// is what a database would give.
	metadata := make([]emmett.Metadata, len(prepared))
	for i, p := range prepared {
		if !p.Metadata.IsZero() {
			if err := json.Unmarshal(p.MetadataJSON, &metadata[i]); err != nil {
				return eventstore.AppendResult{}, err
			}
		}
	}
	created := s.cfg.now().UTC()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	key := streamKey{o.Partition, name}
	st := s.streams[key]
	var version int64
	if st != nil {
		version = int64(len(st.positions))
		// A repeat of an append stored already (by message ids) returns
		// its result; the other stores find it through their unique index
		// on the stream's message ids.
		var stored []emmett.RecordedEvent
		for _, p := range prepared {
			if pos, ok := st.ids[p.MessageID]; ok {
				stored = append(stored, s.log[st.positions[pos-1]-1].event)
			}
		}
		slices.SortFunc(stored, func(a, b emmett.RecordedEvent) int { return cmp.Compare(a.StreamPosition, b.StreamPosition) })
		if res, found, err := backend.ResolveDuplicate(name, prepared, cloneEvents(stored)); found {
			return res, err
		}
	}
	if !o.ExpectedVersion.Matches(version) {
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: name, Expected: o.ExpectedVersion, Actual: version}
	}
	isNew := st == nil
	recorded := make([]emmett.RecordedEvent, len(prepared))
	for i, p := range prepared {
		recorded[i] = emmett.RecordedEvent{
			MessageID:      p.MessageID,
			Type:           p.Type,
			Data:           slices.Clone(p.Data),
			SchemaVersion:  p.SchemaVersion,
			Metadata:       metadata[i],
			StreamName:     name,
			StreamPosition: version + int64(i) + 1,
			GlobalPosition: int64(len(s.log) + i + 1),
			Created:        created,
		}
	}
	if len(s.cfg.inline) > 0 {
		tx := newTx(s)
		if err := backend.ApplyInline(ctx, tx.projectionTx(), s.cfg.inline, recorded); err != nil {
			return eventstore.AppendResult{}, err
		}
		tx.commit()
	}
	if isNew {
		st = &stream{ids: map[string]int64{}}
		s.streams[key] = st
	}
	for _, rec := range recorded {
		s.log = append(s.log, entry{partition: o.Partition, event: rec})
		st.positions = append(st.positions, rec.GlobalPosition)
		st.ids[rec.MessageID] = rec.StreamPosition
	}
	s.appended.Notify()
	last := recorded[len(recorded)-1]
	return eventstore.AppendResult{
		NextExpectedVersion: last.StreamPosition,
		Created:             isNew,
		Position:            eventstore.PositionOf(last),
		Events:              recorded,
	}, nil
}

// readChunk is how many events a reader copies under the lock at a time, so
// that a long read neither holds the lock nor copies the whole stream.
const readChunk = 512

// ReadStream implements eventstore.StreamReader.
func (s *Store) ReadStream(ctx context.Context, name string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return instrument.ReadStream(ctx, s.tel, s, name, opts, (*Store).readStream)
}

func (s *Store) readStream(ctx context.Context, name string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := backend.ResolveRead(opts...)
	return func(yield func(emmett.RecordedEvent, error) bool) {
		if err := eventstore.ValidateStreamName(name); err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		next, read := o.From, int64(0)
		s.readChunks(ctx, yield, func(buf []emmett.RecordedEvent) ([]emmett.RecordedEvent, bool) {
			if st := s.streams[streamKey{o.Partition, name}]; st != nil {
				for pos := next; pos <= int64(len(st.positions)) && len(buf) < readChunk; pos++ {
					if (o.To > 0 && pos > o.To) || (o.MaxCount > 0 && read+int64(len(buf)) >= o.MaxCount) {
						break
					}
					buf = append(buf, s.log[st.positions[pos-1]-1].event)
				}
			}
			next += int64(len(buf))
			read += int64(len(buf))
			return buf, len(buf) > 0
		})
	}
}

// readChunks yields the events of a read a chunk at a time: fill copies
// the next chunk into buf under the read lock, and reports whether more may
// follow. buf grows up to readChunk: a short read allocates little.
func (s *Store) readChunks(ctx context.Context, yield func(emmett.RecordedEvent, error) bool, fill func(buf []emmett.RecordedEvent) ([]emmett.RecordedEvent, bool)) {
	var buf []emmett.RecordedEvent
	for {
		if err := ctx.Err(); err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			yield(emmett.RecordedEvent{}, eventstore.ErrClosed)
			return
		}
		var more bool
		buf, more = fill(buf[:0])
		s.mu.RUnlock()
		for _, e := range buf {
			if !yield(e, nil) {
				return
			}
		}
		if !more {
			return
		}
	}
}

// StreamVersion implements eventstore.StreamReader.
func (s *Store) StreamVersion(ctx context.Context, name string, opts ...eventstore.ReadOption) (int64, bool, error) {
	o := backend.ResolveRead(opts...)
	if err := eventstore.ValidateStreamName(name); err != nil {
		return 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, false, eventstore.ErrClosed
	}
	st := s.streams[streamKey{o.Partition, name}]
	if st == nil {
		return 0, false, nil
	}
	return int64(len(st.positions)), true, nil
}

// ResolvePosition implements eventstore.PositionResolver: the events of
// the store are at global positions 1, 2, 3...
func (s *Store) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	return backend.ResolvePosition(ctx, p, func(_ context.Context, global int64) (uint64, bool, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			return 0, false, eventstore.ErrClosed
		}
		return 0, global <= int64(len(s.log)), nil
	})
}

// ReadAll implements eventstore.GlobalReader.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return instrument.ReadAll(ctx, s.tel, s, after, opts, (*Store).readAll)
}

func (s *Store) readAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := backend.ResolveReadAll(opts...)
	return func(yield func(emmett.RecordedEvent, error) bool) {
		next, read := max(after.GlobalPosition, 0), int64(0) // index into log
		s.readChunks(ctx, yield, func(buf []emmett.RecordedEvent) ([]emmett.RecordedEvent, bool) {
			for ; next < int64(len(s.log)) && len(buf) < readChunk; next++ {
				if o.MaxCount > 0 && read+int64(len(buf)) >= o.MaxCount {
					break
				}
				if en := s.log[next]; o.Partition == "" || en.partition == o.Partition {
					buf = append(buf, en.event)
				}
			}
			read += int64(len(buf))
			end := next >= int64(len(s.log))
			return buf, !end && (o.MaxCount <= 0 || read < o.MaxCount)
		})
	}
}

// cloneEvents returns copies of events whose data the caller may keep.
func cloneEvents(events []emmett.RecordedEvent) []emmett.RecordedEvent {
	out := slices.Clone(events)
	for i := range out {
		out[i].Data = slices.Clone(out[i].Data)
	}
	return out
}
