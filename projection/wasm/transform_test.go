package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tallyTransformer(t testing.TB) *wasm.Transformer {
	t.Helper()
	tr, err := wasm.NewTransformer(wasmtest.Load(t, "./testdata/tally"))
	require.NoError(t, err)
	return tr
}

func TestTransformOnRead(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	md := emmett.Metadata{CorrelationID: "c-1"}
	appendEvents(t, inner, "s-1",
		eventstore.EventData{Type: "Renamed", Data: []byte(`{"n":1}`), Metadata: md},
		event("Other"),
		eventstore.EventData{Type: "Split", Data: []byte(`{}`), Metadata: md},
		event("Drop"),
		event("Last"),
	)
	stored := readStream(t, inner, "s-1")
	store := wasm.NewStore(inner, wasm.TransformOnRead(tallyTransformer(t)))

	got := readStream(t, store, "s-1")
	require.Len(t, got, 5)
	// Renamed: a new type, the rest of the envelope kept.
	want := stored[0]
	want.Type = "Transformed"
	assert.Equal(t, want, got[0])
	// Other types pass untouched.
	assert.Equal(t, stored[1], got[1])
	// Split: two events at the position of the original; the first keeps
	// its message id and metadata, the second has its own of each.
	assert.Equal(t, []string{"Half", "Half"}, []string{got[2].Type, got[3].Type})
	assert.JSONEq(t, `{"half":1}`, string(got[2].Data))
	assert.JSONEq(t, `{"half":2}`, string(got[3].Data))
	assert.Equal(t, stored[2].MessageID, got[2].MessageID)
	assert.NotEqual(t, stored[2].MessageID, got[3].MessageID)
	assert.Equal(t, md, got[2].Metadata)
	assert.Equal(t, emmett.Metadata{Fields: map[string]any{"split": true}}, got[3].Metadata)
	for _, e := range got[2:4] {
		assert.Equal(t, eventstore.PositionOf(stored[2]), eventstore.PositionOf(e))
		assert.Equal(t, stored[2].StreamPosition, e.StreamPosition)
	}
	// Drop: gone.
	assert.Equal(t, stored[4], got[4])
	// Derived message ids are the same on every read.
	assert.Equal(t, got[3].MessageID, readStream(t, store, "s-1")[3].MessageID)

	// ReadAll transforms the same way.
	var all []emmett.RecordedEvent
	for e, err := range store.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(t, err)
		all = append(all, e)
	}
	assert.Equal(t, got, all)

	// Version and head are the store's.
	version, exists, err := store.StreamVersion(ctx, "s-1")
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Equal(t, int64(5), version)
	head, err := store.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, eventstore.Position{GlobalPosition: 5}, head)
	assert.Same(t, inner, store.Inner())
}

func TestTransformBeforeAppend(t *testing.T) {
	inner := memory.New()
	store := wasm.NewStore(inner, wasm.TransformBeforeAppend(tallyTransformer(t)))
	res, err := store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{
		{MessageID: "m-1", Type: "Renamed", Data: []byte(`{"n":1}`)},
		{MessageID: "m-2", Type: "Split", Data: []byte(`{}`)},
		event("Drop"),
		event("Other"),
	}, eventstore.ExpectNoStream())
	require.NoError(t, err)
	assert.Equal(t, int64(4), res.NextExpectedVersion)

	stored := readStream(t, inner, "s-1")
	types := make([]string, len(stored))
	for i, e := range stored {
		types[i] = e.Type
	}
	assert.Equal(t, []string{"Transformed", "Half", "Half", "Other"}, types)
	assert.JSONEq(t, `{"n":1}`, string(stored[0].Data))
	assert.Equal(t, "m-1", stored[0].MessageID)
	assert.Equal(t, "m-2", stored[1].MessageID)
	assert.NotEqual(t, "m-2", stored[2].MessageID)
	assert.NotEmpty(t, stored[2].MessageID)
	assert.Equal(t, res.Events, stored)

	// An error of the module appends nothing.
	_, err = store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Other"), event("Reject")})
	require.ErrorIs(t, err, wasm.ErrGuest)
	assert.Contains(t, err.Error(), `wasm transform "tally": event 1 ("Reject") appended to stream "s-1": wasm module "tally": emmett_transform_batch failed: rejected by the tally module`)
	assert.Len(t, readStream(t, inner, "s-1"), 4)

	// Dropping every event leaves nothing to append.
	_, err = store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Drop")})
	assert.ErrorIs(t, err, eventstore.ErrNoEvents)
}

func TestProcessorOverATransformingStore(t *testing.T) {
	inner := memory.New()
	store := wasm.NewStore(inner, wasm.TransformOnRead(tallyTransformer(t)))
	p := tallyProjection(t, "./testdata/tally")
	appendEvents(t, inner, "s-1", event("Renamed"), event("Split"), event("Drop"))
	last := appendEvents(t, inner, "s-1", event("Other"))

	proc := projection.NewProjectionProcessor(inner.Processors(), backend.NewPollingSource(store, backend.ResolvePoll(projection.PollInterval(10*time.Millisecond))), p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	waitFor(t, proc, last.Position)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, map[string]tally{
		"s-1": {Count: 4, Types: []string{"Transformed", "Half", "Half", "Other"}},
	}, documents(t, inner.Documents(), "tallies"))
}
