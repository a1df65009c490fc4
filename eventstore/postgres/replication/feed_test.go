package replication_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Events appended before the processor starts come from the table in the
// new slot's snapshot, those after from the stream: each arrives once, in
// stream order (the tally fails on a gap or a duplicate).
func TestEventsBeforeAndAfterStartArriveOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	for i := range 30 {
		appendTo(t, s, fmt.Sprintf("counter-%d", i%7), 1+i%3)
	}
	src := newSource(t, s, "counters", replication.WithBatchSize(10))
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	waitFor(t, p, appendTo(t, s, "counter-1", 2).Position)
	requireEqualReplay(t, s, tl)

	var last eventstore.Position
	for i := range 40 {
		last = appendTo(t, s, fmt.Sprintf("counter-%d", i%9), 1+i%4).Position
	}
	waitFor(t, p, last)
	requireEqualReplay(t, s, tl)

	cp, running := p.Checkpoint()
	assert.True(t, running)
	assert.Greater(t, cp.LSN, uint64(replication.HistoryLSN), "the processor is on the stream: %s", cp)
	st, err := src.Status(context.Background())
	require.NoError(t, err)
	assert.True(t, st.Exists)
	assert.True(t, st.Active)
	assert.NotZero(t, st.ConsistentPoint)
	t.Logf("status: %+v", st)
}

// A processor that stops and starts again resumes from its checkpoint on
// the stream: nothing is applied twice, nothing is skipped.
func TestResumesFromTheStream(t *testing.T) {
	t.Parallel()
	s := openStore(t, newDatabase(t))
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	r := start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 3).Position)
	require.NoError(t, r.stop(t))
	appendTo(t, s, "a-1", 2)
	last := appendTo(t, s, "a-2", 2).Position

	p = projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "counters"), tl)
	start(t, p)
	waitFor(t, p, last)
	requireEqualReplay(t, s, tl)
}

// Archived streams stay out of the feed, and a partition's feed has only
// the events of its partition.
func TestFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	require.NoError(t, s.AddPartition(ctx, "tenant-b"))
	all := newTally(t, s.Pool(), "all")
	p := projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "all"), all)
	start(t, p)
	tenant := newTally(t, s.Pool(), "tenant")
	pt := projection.NewProjectionProcessor(s.Processors(), newSource(t, s, "tenant", replication.WithPartition("tenant-b")), tenant)
	start(t, pt)

	appendTo(t, s, "kept-1", 2)
	res, err := s.AppendToStream(ctx, "other-1", increments(3), eventstore.InPartition("tenant-b"))
	require.NoError(t, err)
	waitFor(t, p, appendTo(t, s, "gone-1", 2).Position)
	require.NoError(t, s.ArchiveStream(ctx, "gone-1"))
	last := appendTo(t, s, "kept-2", 1).Position
	waitFor(t, p, last)
	waitFor(t, pt, res.Position)
	waitFor(t, pt, last)
	assert.Equal(t, map[string]counter{
		"kept-1":  {Count: 2, Last: 2, Total: 3},
		"other-1": {Count: 3, Last: 3, Total: 6},
		"gone-1":  {Count: 2, Last: 2, Total: 3}, // applied before it was archived; the archived copy is not an event
		"kept-2":  {Count: 1, Last: 1, Total: 1},
	}, all.read(t, s.Pool()), "the default feed reads every partition")
	assert.Equal(t, map[string]counter{"other-1": {Count: 3, Last: 3, Total: 6}}, tenant.read(t, s.Pool()))
}

// Events decoded from the stream, and those read from the history, are the
// events ReadAll returns, field for field.
func TestEventsAsReadAllReturnsThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	appendWithMetadata := func(stream string, i int) {
		md := emmett.Metadata{CorrelationID: fmt.Sprint("corr-", i), CausationID: fmt.Sprint("cause-", i),
			Fields: map[string]any{"tenant": "t1", "n": float64(i), "nested": map[string]any{"ok": true}}}
		if i%3 == 0 {
			md = emmett.Metadata{}
		}
		_, err := s.AppendToStream(ctx, stream, []eventstore.EventData{
			{Type: "Incremented", Data: fmt.Appendf(nil, `{"by": %d, "note": "é \"quoted\" \\u00e9"}`, i), Metadata: md},
			{Type: "Tagged", Data: []byte(`{"tag":"x","list":[1,2,{"a":null}]}`), Metadata: md},
		})
		require.NoError(t, err)
	}
	for i := range 5 {
		appendWithMetadata(fmt.Sprint("before-", i%2), i)
	}
	var mu sync.Mutex
	var got []emmett.RecordedEvent
	p := projection.NewReactorProcessor(s.Processors(), newSource(t, s, "collector"), "collector", nil, func(_ context.Context, e emmett.RecordedEvent) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		return nil
	})
	start(t, p)
	for i := 5; i < 10; i++ {
		appendWithMetadata(fmt.Sprint("after-", i%2), i)
	}
	head, err := s.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	var want []emmett.RecordedEvent
	for e, err := range s.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(t, err)
		want = append(want, e)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 20)
	require.Equal(t, want, got, "the same events, in the same order (one writer: commit order is log order)")
}
