package projectiontest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CountersV2 returns version 2 of the counters projection: the same
// documents, with Shape set to 2, in the collection's version-2 table.
func CountersV2(collection string) *projection.DocumentProjection[Counter, Event] {
	return projection.SingleStream("counters", emmett.NewEvents[Event](Incremented{}, Tagged{}, Removed{}),
		func(doc *Counter, e emmett.Recorded[Event]) *Counter {
			if doc = evolveCounter(doc, e); doc != nil {
				doc.Shape = 2
			}
			return doc
		}, projection.WithCollection(collection), projection.WithVersion(2))
}

// RequireCountersV2MatchReplay requires the documents of CountersV2 in
// collection to equal a fold of b's whole log.
func RequireCountersV2MatchReplay(t testing.TB, b Backend, collection string) {
	t.Helper()
	want := expectedCounters(t, b)
	for id, d := range want {
		d.Shape = 2
		want[id] = d
	}
	got := allDocuments[Counter](t, b.Documents(), projection.VersionedName(collection, 2))
	require.Equal(t, want, got, "documents of version 2 equal a fresh replay of the log")
}

// sourceFor returns the source of the processor id on b.
func (c Config) sourceFor(t testing.TB, b Backend, processorID string) projection.Source {
	if c.SourceFor != nil {
		return c.SourceFor(t, b, processorID)
	}
	return c.Source(b)
}

// gated holds a source's batches until open is closed (outside any
// transaction: a memory or SQLite store's Commit holds its writer).
type gated struct {
	projection.Source
	open chan struct{}
}

func (g gated) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	return g.Source.Subscribe(ctx, after, func(ctx context.Context, b projection.Batch) error {
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
		return handle(ctx, b)
	})
}

// activeVersion returns the active version of the counters projection, 0
// when none is recorded.
func activeVersion(t testing.TB, b Backend) int {
	t.Helper()
	v, found, err := projection.ActiveVersion(background(t), b.Processors(), "counters")
	require.NoError(t, err)
	if !found {
		return 0
	}
	return v.Version
}

func requireStatuses(t testing.TB, b Backend, want map[int]projection.VersionStatus) {
	t.Helper()
	vs, err := projection.Versions(background(t), b.Processors(), "counters")
	require.NoError(t, err)
	got := map[int]projection.VersionStatus{}
	for _, v := range vs {
		got[v.Version] = v.Status
	}
	require.Equal(t, want, got, "the recorded versions of counters")
}

const watch = 20 * time.Millisecond

func testVersions(t *testing.T, cfg Config) {
	t.Run("BuildSwitchDrop", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		appendMany(t, b, "counter", 60, 6)
		v1 := Counters("counters")
		p1 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "counters"), v1, projection.WithWatchInterval(watch))
		assert.Equal(t, "counters", p1.ID(), "version 1 keeps the projection's name")
		start(t, p1)
		waitFor(t, p1, appendMany(t, b, "counter", 1, 6))
		requireStatuses(t, b, map[int]projection.VersionStatus{1: projection.VersionActive})
		reads := CountersV2("counters").Collection(b.Documents()) // either version's Collection reads the active one
		doc, found, err := reads.Get(background(t), "counter-1")
		require.NoError(t, err)
		require.True(t, found)
		assert.Zero(t, doc.Shape, "version 1's document")

		// Version 2 builds while version 1 serves and keeps up.
		open := make(chan struct{})
		p2 := projection.NewProjectionProcessor(b.Processors(), gated{cfg.sourceFor(t, b, "counters_v2"), open}, CountersV2("counters"),
			projection.WithWatchInterval(watch))
		assert.Equal(t, "counters_v2", p2.ID())
		r2 := start(t, p2)
		require.Eventually(t, func() bool {
			vs, err := projection.Versions(background(t), b.Processors(), "counters")
			return err == nil && len(vs) == 2 && vs[1].Status == projection.VersionBuilding
		}, waitLimit, 5*time.Millisecond, "version 2 is recorded as building")
		pos := Append(t, b, "counter-new", Incremented{By: 5}).Position
		waitFor(t, p1, pos)
		waitFor(t, p2, pos) // waits for the active version, 1
		doc, found, err = reads.Get(background(t), "counter-new")
		require.NoError(t, err)
		require.True(t, found, "version 1 keeps up while version 2 builds")
		assert.Zero(t, doc.Shape)
		assert.Equal(t, 1, activeVersion(t, b))

		// Once it has caught up, version 2 becomes active, and version 1's
		// processor idles.
		close(open)
		require.Eventually(t, func() bool { return activeVersion(t, b) == 2 }, waitLimit, 5*time.Millisecond, "version 2 becomes active")
		requireStatuses(t, b, map[int]projection.VersionStatus{1: projection.VersionRetired, 2: projection.VersionActive})
		require.Eventually(t, func() bool { _, running := p1.Checkpoint(); return !running }, waitLimit, 5*time.Millisecond,
			"version 1's processor stops")
		pos = Append(t, b, "counter-newer", Incremented{By: 6}).Position
		waitFor(t, p1, pos) // version 1's processor waits for version 2's
		doc, found, err = reads.Get(background(t), "counter-newer")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, 2, doc.Shape, "reads switched to version 2")
		RequireCountersV2MatchReplay(t, b, "counters")
		n, err := Counters("counters").Collection(b.Documents()).Count(background(t))
		require.NoError(t, err)
		assert.EqualValues(t, len(expectedCounters(t, b)), n, "version 1's Collection reads version 2 too")
		time.Sleep(5 * watch)
		cp1, _, err := b.Processors().ReadCheckpoint(background(t), "counters")
		require.NoError(t, err)
		assert.Negative(t, cp1.Compare(pos), "version 1's processor applies no more events")

		// Going back: version 1 is made active again and catches up.
		require.NoError(t, projection.ActivateVersion(background(t), b.Processors(), "counters", 1))
		requireStatuses(t, b, map[int]projection.VersionStatus{1: projection.VersionActive, 2: projection.VersionRetired})
		waitFor(t, p1, pos)
		RequireCountersMatchReplay(t, b, "counters")
		require.NoError(t, projection.ActivateVersion(background(t), b.Processors(), "counters", 2))

		// The active version cannot be dropped; the retired one can.
		err = projection.DropVersion(background(t), b.Processors(), "counters", 2)
		require.ErrorIs(t, err, projection.ErrVersionActive)
		err = projection.DropVersion(background(t), b.Processors(), "counters", 3)
		require.ErrorIs(t, err, projection.ErrVersionNotFound)
		ctx, cancel := context.WithTimeout(background(t), waitLimit)
		defer cancel()
		require.NoError(t, projection.DropVersion(ctx, b.Processors(), "counters", 1))
		requireStatuses(t, b, map[int]projection.VersionStatus{2: projection.VersionActive})
		n, err = projection.NewCollection[Counter](b.Documents(), "counters").Count(background(t))
		require.NoError(t, err)
		assert.Zero(t, n, "version 1's documents are gone")
		_, found, err = b.Processors().ReadCheckpoint(background(t), "counters")
		require.NoError(t, err)
		assert.False(t, found, "version 1's checkpoint is gone")
		waitFor(t, p2, Append(t, b, "counter-last", Incremented{By: 1}).Position)
		RequireCountersV2MatchReplay(t, b, "counters")
		assert.NoError(t, r2.stop(t))
	})

	t.Run("OlderVersionIdles", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		appendMany(t, b, "counter", 20, 4)
		p2 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "counters_v2"), CountersV2("counters"), projection.WithWatchInterval(watch))
		require.NoError(t, p2.CatchUp(background(t)))
		requireStatuses(t, b, map[int]projection.VersionStatus{2: projection.VersionActive})
		r2 := start(t, p2)

		// An instance still on version 1 (a rolling deploy) writes nothing.
		p1 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "counters"), Counters("counters"), projection.WithWatchInterval(watch))
		err := p1.CatchUp(background(t))
		require.ErrorIs(t, err, projection.ErrVersionRetired)
		r1 := start(t, p1)
		waitFor(t, p1, Append(t, b, "counter-1", Incremented{By: 1}).Position) // waits for version 2's processor
		RequireCountersV2MatchReplay(t, b, "counters")
		n, err := projection.NewCollection[Counter](b.Documents(), "counters").Count(background(t))
		require.NoError(t, err)
		assert.Zero(t, n, "the older version builds nothing")
		requireStatuses(t, b, map[int]projection.VersionStatus{2: projection.VersionActive})
		assert.NoError(t, r1.stop(t))
		assert.NoError(t, r2.stop(t))
	})

	t.Run("ProjectionFromBeforeVersions", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		// A version-1 processor ran before versions were recorded: its
		// checkpoint and documents are there, no record of its version.
		last := appendMany(t, b, "counter", 20, 4)
		err := b.Processors().Commit(background(t), "counters", eventstore.Position{}, last, func(ctx context.Context, tx projection.Tx) error {
			return tx.Documents().Put(ctx, "counters", "counter-0", []byte(`{"total":1,"count":1,"group":{"name":""},"active":true}`))
		})
		require.NoError(t, err)
		requireStatuses(t, b, map[int]projection.VersionStatus{})

		// Version 2 records version 1 as the active one, builds, and
		// replaces it once caught up.
		p2 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "counters_v2"), CountersV2("counters"), projection.WithWatchInterval(watch))
		require.NoError(t, p2.CatchUp(background(t)))
		requireStatuses(t, b, map[int]projection.VersionStatus{1: projection.VersionRetired, 2: projection.VersionActive})
		RequireCountersV2MatchReplay(t, b, "counters")
		n, err := projection.NewCollection[Counter](b.Documents(), "counters").Count(background(t))
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "version 1's documents stay until dropped")
	})

	t.Run("WaitDuringTheSwitch", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		appendMany(t, b, "counter", 20, 4)
		p1 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "counters"), Counters("counters"), projection.WithWatchInterval(watch))
		require.NoError(t, p1.CatchUp(background(t)))
		pos := Append(t, b, "counter-late", Incremented{By: 3}).Position // version 1 stays behind it

		open := make(chan struct{})
		p2 := projection.NewProjectionProcessor(b.Processors(), gated{cfg.sourceFor(t, b, "counters_v2"), open}, CountersV2("counters"),
			projection.WithWatchInterval(watch))
		r2 := start(t, p2)
		require.Eventually(t, func() bool {
			vs, err := projection.Versions(background(t), b.Processors(), "counters")
			return err == nil && len(vs) == 2 && vs[1].Status == projection.VersionBuilding
		}, waitLimit, 5*time.Millisecond, "version 2 is recorded as building")
		waited := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(background(t), waitLimit)
			defer cancel()
			waited <- p2.WaitFor(ctx, pos) // for version 1 first
		}()
		time.Sleep(5 * watch)
		select {
		case err := <-waited:
			t.Fatalf("WaitFor returned before the event was applied: %v", err)
		default:
		}
		close(open) // version 2 builds, becomes active and applies the event
		require.NoError(t, <-waited, "the wait follows the switch to version 2")
		doc, found, err := CountersV2("counters").Collection(b.Documents()).Get(background(t), "counter-late")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, 2, doc.Shape)
		assert.NoError(t, r2.stop(t))
	})

	t.Run("CustomProcessorID", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		appendMany(t, b, "counter", 20, 4)
		p1 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "sums"), Counters("counters"), projection.WithProcessorID("sums"))
		p2 := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "sums_v2"), CountersV2("counters"), projection.WithProcessorID("sums"))
		assert.Equal(t, "sums", p1.ID())
		assert.Equal(t, "sums_v2", p2.ID(), "each version has a processor of its own")
		require.NoError(t, p1.CatchUp(background(t)))
		require.NoError(t, p2.CatchUp(background(t)))
		vs, err := projection.Versions(background(t), b.Processors(), "counters")
		require.NoError(t, err)
		require.Len(t, vs, 2)
		assert.Equal(t, []string{"sums", "sums_v2"}, []string{vs[0].Processor, vs[1].Processor})
		assert.Equal(t, projection.VersionActive, vs[1].Status)
		RequireCountersV2MatchReplay(t, b, "counters")
	})

	t.Run("BlueGreenUnderLoad", func(t *testing.T) { t.Parallel(); testBlueGreen(t, cfg) })
}

// maxBuildAppends bounds the appends of testBlueGreen's writers.
const maxBuildAppends = 1500

// testBlueGreen builds version 2 of the counters projection while four
// writers append and two instances of each version run, with a reader
// reading through the Collection the whole time.
func testBlueGreen(t *testing.T, cfg Config) {
	b := cfg.New(t)
	appendMany(t, b, "counter", cfg.events()/2, 40)
	instances := func(p projection.Projection, id string) []*projection.Processor {
		var ps []*projection.Processor
		for range 2 {
			ps = append(ps, projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, id), p, projection.WithWatchInterval(watch)))
		}
		return ps
	}
	v1 := instances(Counters("counters"), "counters")
	for _, p := range v1 {
		start(t, p)
	}
	head, err := cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	waitFor(t, v1[0], head)

	ctx, stop := context.WithCancel(background(t))
	defer stop()
	var wg sync.WaitGroup
	var appended atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			// At most maxBuildAppends in all: on a loaded machine the
			// build may be slower than the writers, and must still end.
			for i := 0; ctx.Err() == nil && appended.Load() < maxBuildAppends; i++ {
				stream := fmt.Sprintf("w%d-%d", w, rng.IntN(50+i/4)) // new streams keep coming
				data, err := eventstore.Encode(Events, []Event{Incremented{By: 1 + rng.IntN(9)}}, emmett.Metadata{})
				if !assert.NoError(t, err) {
					return
				}
				if _, err := b.AppendToStream(ctx, stream, data); err != nil && ctx.Err() == nil {
					assert.NoError(t, err)
					return
				}
				appended.Add(1)
				time.Sleep(time.Millisecond) // a load the projection keeps up with
			}
		})
	}

	// The reader: never fewer documents than before, never a document of a
	// version that was not active, version 2's shape once it was.
	readerCtx, stopReader := context.WithCancel(background(t))
	var reads, sawV2 atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		reads2 := Counters("counters").Collection(b.Documents())
		last := int64(0)
		for readerCtx.Err() == nil {
			before := activeVersion(t, b)
			docs, err := reads2.FindQuery(readerCtx, projection.Query{})
			if readerCtx.Err() != nil {
				return
			}
			if !assert.NoError(t, err) {
				return
			}
			after := activeVersion(t, b)
			n := int64(len(docs))
			if !assert.GreaterOrEqual(t, n, last, "the reader never sees fewer documents than before") {
				return
			}
			last = n
			for _, d := range docs {
				v := max(d.Shape, 1)
				if !assert.True(t, v == before || v == after, "a document of version %d read while %d then %d were active", v, before, after) {
					return
				}
				if v == 2 {
					sawV2.Store(1)
				} else if !assert.Zero(t, sawV2.Load(), "a version 1 document after version 2's") {
					return
				}
			}
			reads.Add(1)
			// Let the others run: on js/wasm, Go runs one goroutine at
			// a time and preempts none, and a read of the memory store
			// never blocks, so this loop would starve the writers and
			// the processors it waits for.
			runtime.Gosched()
		}
	}()

	time.Sleep(100 * time.Millisecond)
	v2 := instances(CountersV2("counters"), "counters_v2")
	for _, p := range v2 {
		start(t, p)
	}
	require.Eventually(t, func() bool { return activeVersion(t, b) == 2 }, 2*waitLimit, 10*time.Millisecond, "version 2 becomes active")
	time.Sleep(100 * time.Millisecond) // appends go on after the switch
	stop()
	wg.Wait()
	head, err = cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(background(t), waitLimit)
	defer wcancel()
	if err := v1[1].WaitFor(wctx, head); err != nil { // waits for version 2's processor
		for _, p := range append(v1, v2...) {
			cp, running := p.Checkpoint()
			stored, _, _ := b.Processors().ReadCheckpoint(background(t), p.ID())
			t.Logf("%s: %s running %v, stored %s", p.ID(), cp, running, stored)
		}
		require.NoError(t, err, "waiting for %s", head)
	}
	// A read that started after the switch sees version 2's documents;
	// one read of them all can take a while on a loaded machine.
	assert.Eventually(t, func() bool { return sawV2.Load() == 1 }, waitLimit, 10*time.Millisecond, "the reader saw version 2's documents")
	stopReader()
	<-readerDone
	assert.Positive(t, reads.Load(), "the reader read")
	t.Logf("%d appends during the build, %d reads", appended.Load(), reads.Load())
	requireStatuses(t, b, map[int]projection.VersionStatus{1: projection.VersionRetired, 2: projection.VersionActive})
	RequireCountersV2MatchReplay(t, b, "counters")
}
