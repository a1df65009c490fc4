package wasm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batches is a projection.Source that delivers fixed batches, then waits
// for its context to end.
type batches []projection.Batch

func (b batches) Subscribe(ctx context.Context, _ eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	for _, batch := range b {
		if err := handle(ctx, batch); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

func (b batches) Head(context.Context) (eventstore.Position, error) {
	return eventstore.Position{GlobalPosition: 42}, nil
}

func (b batches) Target(_ context.Context, appended eventstore.Position) (eventstore.Position, error) {
	return eventstore.Position{GlobalPosition: appended.GlobalPosition + 100}, nil
}

func recorded(pos int64, typ string) emmett.RecordedEvent {
	return emmett.RecordedEvent{Type: typ, Data: []byte(`{}`), StreamName: "s-1", StreamPosition: pos, GlobalPosition: pos, MessageID: "m-" + typ}
}

func TestSourceTransformsEachBatchKeepingItsEnd(t *testing.T) {
	inner := batches{
		{Events: []emmett.RecordedEvent{recorded(1, "Renamed"), recorded(2, "Other"), recorded(3, "Split")}, End: eventstore.Position{GlobalPosition: 5}},
		{End: eventstore.Position{GlobalPosition: 7}}, // only moves the checkpoint
		{Events: []emmett.RecordedEvent{recorded(8, "Other")}, End: eventstore.Position{GlobalPosition: 8}},
		{Events: []emmett.RecordedEvent{recorded(9, "Drop"), recorded(10, "Renamed")}, End: eventstore.Position{GlobalPosition: 10}},
	}
	src := wasm.NewSource(inner, tallyTransformer(t))

	type got struct {
		types     []string
		positions []int64
		end       eventstore.Position
	}
	var seen []got
	ctx, cancel := context.WithCancel(context.Background())
	err := src.Subscribe(ctx, eventstore.Position{}, func(_ context.Context, b projection.Batch) error {
		g := got{end: b.End}
		for _, e := range b.Events {
			g.types = append(g.types, e.Type)
			g.positions = append(g.positions, e.GlobalPosition)
		}
		seen = append(seen, g)
		if len(seen) == len(inner) {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []got{
		{[]string{"Transformed", "Other", "Half", "Half"}, []int64{1, 2, 3, 3}, eventstore.Position{GlobalPosition: 5}},
		{nil, nil, eventstore.Position{GlobalPosition: 7}},
		{[]string{"Other"}, []int64{8}, eventstore.Position{GlobalPosition: 8}},
		{[]string{"Transformed"}, []int64{10}, eventstore.Position{GlobalPosition: 10}},
	}, seen)

	// Head and Target are the inner source's; it counts nothing, so
	// neither does the transformed source.
	head, err := src.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, eventstore.Position{GlobalPosition: 42}, head)
	target, err := src.Target(context.Background(), eventstore.Position{GlobalPosition: 1})
	require.NoError(t, err)
	assert.Equal(t, eventstore.Position{GlobalPosition: 101}, target)
	assert.NotImplements(t, (*projection.Counter)(nil), src)
	assert.Implements(t, (*projection.Counter)(nil), wasm.NewSource(memory.New().Source(), tallyTransformer(t)))
}

func TestAsyncProjectorOnATransformedSource(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			inner := b.open(t)
			store := wasm.NewBackendStore(inner, wasm.TransformOnRead(tallyTransformer(t)))
			assert.Same(t, inner, store.Backend())
			appendEvents(t, inner, "s-1", event("Renamed"), event("Split"), event("Drop"))
			last := appendEvents(t, inner, "s-1", event("Other"))

			// The store stands where the backend would: checkpoints,
			// documents and the feed.
			p := tallyProjection(t, "./testdata/tally")
			proc := projection.NewProjectionProcessor(store.Processors(), store.Source(projection.PollInterval(time.Minute)), p)
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- proc.Run(runCtx) }()
			t.Cleanup(func() {
				cancel()
				assert.NoError(t, <-done)
			})
			waitFor(t, proc, last.Position)
			want := map[string]tally{"s-1": {Count: 4, Types: []string{"Transformed", "Half", "Half", "Other"}}}
			assert.Equal(t, want, documents(t, store.Documents(), "tallies"))
			assert.Equal(t, want, documents(t, inner.Documents(), "tallies"))
			cp, found, err := inner.Processors().ReadCheckpoint(ctx, "tallies")
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, last.Position, cp, "the checkpoint is the stored log's")

			// An append wakes the feed (the interval is a minute).
			next := appendEvents(t, inner, "s-2", event("Renamed"))
			waitFor(t, proc, next.Position)
			assert.Equal(t, tally{Count: 1, Types: []string{"Transformed"}}, documents(t, store.Documents(), "tallies")["s-2"])

			// A rebuild replays the transformed events; its total counts
			// the events as stored.
			var progress []projection.Progress
			require.NoError(t, proc.ResetAndRebuild(ctx, func(pr projection.Progress) { progress = append(progress, pr) }))
			assert.Equal(t, want["s-1"], documents(t, store.Documents(), "tallies")["s-1"])
			require.NotEmpty(t, progress)
			assert.Equal(t, int64(5), progress[0].Total)
		})
	}
}

func TestFaultyTransformationStopsTheProcessor(t *testing.T) {
	tr, err := wasm.NewTransformer(wasmtest.Load(t, "./testdata/trap"))
	require.NoError(t, err)
	inner := memory.New()
	store := wasm.NewBackendStore(inner, wasm.TransformOnRead(tr))
	first := appendEvents(t, inner, "s-1", event("Opened"))
	p := tallyProjection(t, "./testdata/tally")
	proc := projection.NewProjectionProcessor(store.Processors(), store.Source(projection.PollInterval(20*time.Millisecond)), p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	waitFor(t, proc, first.Position)

	appendEvents(t, inner, "s-1", event("Added"), event("Boom"), event("After"))
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the processor did not stop")
	}
	require.ErrorIs(t, err, wasm.ErrTrap)
	var terr *wasm.TransformError
	require.ErrorAs(t, err, &terr)
	assert.Equal(t, eventstore.Position{GlobalPosition: 3}, terr.Position())
	assert.Contains(t, err.Error(), `event "Boom" at 3 (stream "s-1" position 3)`)

	// Nothing of the failing batch is kept.
	cp, _, err := inner.Processors().ReadCheckpoint(context.Background(), "tallies")
	require.NoError(t, err)
	assert.Equal(t, first.Position, cp)
	assert.Equal(t, map[string]tally{"s-1": {Count: 1, Types: []string{"Opened"}}}, documents(t, inner.Documents(), "tallies"))
}

func TestEventStreamsOfATransformedStore(t *testing.T) {
	inner := memory.New()
	store := wasm.NewBackendStore(inner, wasm.TransformOnRead(tallyTransformer(t)))
	appendEvents(t, inner, "s-1", event("Renamed"), event("Other"))
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()))
	srv := httptest.NewServer(streams)
	defer srv.Close()
	defer streams.Close()

	// A page of the log.
	res, err := http.Get(srv.URL + "/all")
	require.NoError(t, err)
	var page httpapi.LogPage
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	res.Body.Close()
	require.Len(t, page.Events, 2)
	assert.Equal(t, []string{"Transformed", "Other"}, []string{page.Events[0].Type, page.Events[1].Type})

	// The live stream, through the transformed source.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/all/live?after=end", nil)
	require.NoError(t, err)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	appendEvents(t, inner, "s-2", event("Renamed"))
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data:")
		if !ok {
			continue
		}
		var e eventstore.JSONEvent
		require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(data)), &e))
		assert.Equal(t, "Transformed", e.Type)
		assert.Equal(t, "s-2", e.StreamName)
		return
	}
	t.Fatalf("no live event: %v", lines.Err())
}
