package wasm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProjectionRunsInline(t *testing.T) {
	p := tallyProjection(t, "./testdata/tally")
	store := memory.New(memory.WithProjections(p))
	appendEvents(t, store, "s-1", event("Opened"), event("Added"))
	appendEvents(t, store, "s-2", event("Opened"))
	appendEvents(t, store, "s-1", event("Added"))
	// A multi-stream event: the module chooses the documents.
	appendEvents(t, store, "s-3", eventFor("Shared", "s-1", "s-2", "other"))

	assert.Equal(t, map[string]tally{
		"s-1":   {Count: 4, Types: []string{"Opened", "Added", "Added", "Shared"}},
		"s-2":   {Count: 2, Types: []string{"Opened", "Shared"}},
		"other": {Count: 1, Types: []string{"Shared"}},
	}, documents(t, store.Documents(), "tallies"))

	appendEvents(t, store, "s-2", event("Delete"))
	// An event for no document changes nothing.
	appendEvents(t, store, "s-4", eventFor("Nobody"))
	docs := documents(t, store.Documents(), "tallies")
	assert.NotContains(t, docs, "s-2")
	assert.Len(t, docs, 2)
}

func TestProjectionRunsInAProcessorAndRebuilds(t *testing.T) {
	p := tallyProjection(t, "./testdata/tally")
	store := memory.New()
	appendEvents(t, store, "s-1", event("Opened"), event("Added"))
	last := appendEvents(t, store, "s-2", event("Opened"), eventFor("Shared", "s-1", "s-2"))

	proc, _ := runProcessor(t, store, p)
	waitFor(t, proc, last.Position)
	want := map[string]tally{
		"s-1": {Count: 3, Types: []string{"Opened", "Added", "Shared"}},
		"s-2": {Count: 2, Types: []string{"Opened", "Shared"}},
	}
	assert.Equal(t, want, documents(t, store.Documents(), "tallies"))

	// A rebuild gives the same documents, from scratch.
	require.NoError(t, store.Documents().Put(context.Background(), "tallies", "stray", []byte(`{"count":99}`)))
	var progress []projection.Progress
	require.NoError(t, proc.ResetAndRebuild(context.Background(), func(pr projection.Progress) { progress = append(progress, pr) }))
	assert.Equal(t, want, documents(t, store.Documents(), "tallies"))
	require.NotEmpty(t, progress)
	assert.Equal(t, projection.Progress{Done: 4, Total: 4}, progress[len(progress)-1])

	last = appendEvents(t, store, "s-1", event("Added"))
	waitFor(t, proc, last.Position)
	assert.Equal(t, 4, documents(t, store.Documents(), "tallies")["s-1"].Count)
}

func TestProjectionBatchEqualsOneEventAtATime(t *testing.T) {
	p := tallyProjection(t, "./testdata/tally")
	inline := memory.New(memory.WithProjections(p))
	batch := memory.New()
	for i, typ := range []string{"A", "B", "Delete", "C", "D"} {
		stream := []string{"s-1", "s-2"}[i%2]
		appendEvents(t, inline, stream, event(typ))
		appendEvents(t, batch, stream, event(typ))
	}
	var all []emmett.RecordedEvent
	for e, err := range batch.ReadAll(context.Background(), eventstore.Position{}) {
		require.NoError(t, err)
		all = append(all, e)
	}
	require.NoError(t, batch.Processors().Commit(context.Background(), "batch", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		return p.Handle(ctx, tx, all)
	}))
	assert.Equal(t, documents(t, inline.Documents(), "tallies"), documents(t, batch.Documents(), "tallies"))

	// Reset deletes the documents.
	require.NoError(t, batch.Processors().Commit(context.Background(), "batch", eventstore.Position{}, eventstore.Position{}, p.Reset))
	assert.Empty(t, documents(t, batch.Documents(), "tallies"))
}

func TestProjectionFoldsLongRuns(t *testing.T) {
	// The default call bound (1s) is for production; a batch of 200 events
	// under the race detector on a loaded 2-core machine can take longer,
	// and this test is about folding, not about the bound.
	p := tallyProjection(t, "./testdata/tally", wasm.WithCallTimeout(30*time.Second))
	store := memory.New()
	var events []eventstore.EventData
	for i := range 250 {
		if i%50 == 49 {
			events = append(events, eventFor("Shared", "s-1", "s-2"))
		} else {
			events = append(events, event("Added"))
		}
	}
	last := appendEvents(t, store, "s-1", events...)
	proc, _ := runProcessor(t, store, p)
	waitFor(t, proc, last.Position)
	docs := documents(t, store.Documents(), "tallies")
	assert.Equal(t, 250, docs["s-1"].Count)
	assert.Equal(t, 5, docs["s-2"].Count)
	assert.Equal(t, "Shared", docs["s-1"].Types[49])
}

func TestProjectionWithoutCallTimeout(t *testing.T) {
	p := tallyProjection(t, "./testdata/tally", wasm.WithoutCallTimeout())
	store := memory.New(memory.WithProjections(p))
	appendEvents(t, store, "s-1", event("Opened"), event("Added"))
	_, err := store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Reject")})
	require.ErrorIs(t, err, wasm.ErrGuest)
	assert.Equal(t, map[string]tally{"s-1": {Count: 2, Types: []string{"Opened", "Added"}}}, documents(t, store.Documents(), "tallies"))

	// A cancelled context is refused before the call.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	events := readStream(t, store, "s-1")
	err = store.Processors().Commit(context.Background(), "x", eventstore.Position{}, eventstore.Position{}, func(_ context.Context, tx projection.Tx) error {
		return p.Handle(ctx, tx, events)
	})
	require.ErrorIs(t, err, context.Canceled)
}

// Opened is the type of TestProjectionWithUpgrade's registry.
type Opened struct {
	V int `json:"v"`
}

// WithUpgrade passes the module events upgraded by the application's
// registry: version 1 events, and a type stored under its old name, reach
// it at the current version (the tally module lists a type at version N
// above 1 as "Type.vN"); types the registry does not know pass as stored,
// and an upcaster's failure fails the event.
func TestProjectionWithUpgrade(t *testing.T) {
	registry := emmett.NewEvents[any](Opened{}).
		Upcast("Opened", 1, emmett.UpcastFunc(func(data []byte) ([]byte, error) {
			if string(data) == `{"bad":true}` {
				return nil, errors.New("cannot upcast")
			}
			return []byte(`{"v":2}`), nil
		})).
		Renamed("Begun", "Opened")
	m := wasmtest.Load(t, "./testdata/tally")
	stored := []eventstore.EventData{
		{Type: "Opened", Data: []byte(`{}`), SchemaVersion: 1},
		{Type: "Begun", Data: []byte(`{}`), SchemaVersion: 1},
		{Type: "Opened", Data: []byte(`{"v":2}`), SchemaVersion: 2},
		event("Added"),
	}
	for _, tc := range []struct {
		name  string
		opts  []wasm.ProjectionOption
		types []string
	}{
		{"upgraded", []wasm.ProjectionOption{wasm.WithUpgrade(registry.Upgrade)}, []string{"Opened.v2", "Opened.v2", "Opened.v2", "Added"}},
		{"as stored", nil, []string{"Opened", "Begun", "Opened.v2", "Added"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := wasm.NewProjection(m, "tallies", tc.opts...)
			require.NoError(t, err)
			store := memory.New(memory.WithProjections(p))
			appendEvents(t, store, "s-1", stored...)
			assert.Equal(t, map[string]tally{"s-1": {Count: 4, Types: tc.types}}, documents(t, store.Documents(), "tallies"))
		})
	}
	p, err := wasm.NewProjection(m, "tallies", wasm.WithUpgrade(registry.Upgrade))
	require.NoError(t, err)
	store := memory.New(memory.WithProjections(p))
	_, err = store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{{Type: "Opened", Data: []byte(`{"bad":true}`), SchemaVersion: 1}})
	var upcastErr *emmett.UpcastError
	require.ErrorAs(t, err, &upcastErr, "the upcaster's failure fails the event")
	assert.Empty(t, readAll(t, store), "nothing is stored")
}
