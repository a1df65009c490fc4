package wasm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A batch larger than a call holds (1,000 events): a document's events go
// in runs, each call given what the one before returned, and documents
// share calls.
func TestProjectionSplitsLargeBatchesIntoCalls(t *testing.T) {
	p := tallyProjection(t, "./testdata/tally", wasm.WithCallTimeout(time.Minute))
	src := memory.New()
	for range 3 {
		events := make([]eventstore.EventData, 500)
		for i := range events {
			events[i] = event(fmt.Sprintf("T%d", i%7))
		}
		appendEvents(t, src, "big", events...)
	}
	for i := range 300 {
		appendEvents(t, src, fmt.Sprintf("small-%03d", i), event("Opened"), eventFor("Shared", fmt.Sprintf("small-%03d", i), "shared"))
	}
	all := readAll(t, src)
	require.Len(t, all, 2100)

	store := memory.New()
	require.NoError(t, store.Processors().Commit(context.Background(), "batch", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		return p.Handle(ctx, tx, all)
	}))
	docs := documents(t, store.Documents(), "tallies")
	require.Len(t, docs, 302)
	big := docs["big"]
	assert.Equal(t, 1500, big.Count)
	for i, typ := range big.Types {
		require.Equal(t, fmt.Sprintf("T%d", i%500%7), typ, "event %d folded in log order", i)
	}
	assert.Equal(t, 300, docs["shared"].Count)
	assert.Equal(t, tally{Count: 2, Types: []string{"Opened", "Shared"}}, docs["small-123"])
}

// Reading through a module of version 2 gathers events for a call (up to
// 256 transformed), and yields them in order; a failing event ends the
// read after the events before it, and a reader may stop early.
func TestTransformOnReadGathersEvents(t *testing.T) {
	ctx := context.Background()
	tr := tallyTransformer(t)
	inner := memory.New()
	var stored []eventstore.EventData
	for i := range 700 {
		switch {
		case i == 650:
			stored = append(stored, event("Reject"))
		case i%100 == 10:
			stored = append(stored, event("Split"))
		case i%100 == 20:
			stored = append(stored, event("Drop"))
		case i%3 == 0:
			stored = append(stored, event("Renamed"))
		default:
			stored = append(stored, event("Other"))
		}
	}
	for i := 0; i < len(stored); i += 100 {
		appendEvents(t, inner, "s-1", stored[i:i+100]...)
	}
	store := wasm.NewStore(inner, wasm.TransformOnRead(tr))

	var got []emmett.RecordedEvent
	var readErr error
	for e, err := range store.ReadStream(ctx, "s-1") {
		if err != nil {
			readErr = err
			break
		}
		got = append(got, e)
	}
	var terr *wasm.TransformError
	require.ErrorAs(t, readErr, &terr)
	require.ErrorIs(t, readErr, wasm.ErrGuest)
	assert.Equal(t, int64(651), terr.Event.StreamPosition)

	// Each event before the failing one, transformed one at a time.
	var want []emmett.RecordedEvent
	for _, e := range readStream(t, inner, "s-1")[:650] {
		out, err := tr.Transform(ctx, e)
		require.NoError(t, err)
		want = append(want, out...)
	}
	require.Equal(t, len(want), len(got))
	for i := range want {
		assert.Equal(t, want[i].Type, got[i].Type, i)
		assert.Equal(t, want[i].StreamPosition, got[i].StreamPosition, i)
		assert.Equal(t, want[i].MessageID, got[i].MessageID, i)
	}

	// A reader that stops early stops the read.
	n := 0
	for _, err := range store.ReadStream(ctx, "s-1") {
		require.NoError(t, err)
		if n++; n == 300 {
			break
		}
	}
	assert.Equal(t, 300, n)
}
