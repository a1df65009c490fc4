package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var emmettMetadata = emmett.Metadata{CorrelationID: "scenario"}

const wasmCollection = "shopping_cart_details_wasm"

// sameDocuments asserts that the Wasm projection's collection is the Go
// projection's, document for document and byte for byte.
func sameDocuments(t *testing.T, store *memory.Store) {
	t.Helper()
	goDocs := rawDocuments(t, store.Documents(), sc.CartDetailsName)
	wasmDocs := rawDocuments(t, store.Documents(), wasmCollection)
	require.Equal(t, details(t, goDocs), details(t, wasmDocs))
	require.Equal(t, goDocs, wasmDocs)
}

func TestCartDetailsModuleDescribesTheProjection(t *testing.T) {
	p := wasmCartDetails(t, wasmCollection)
	assert.Equal(t, sc.CartDetailsProjection().EventTypes(), p.EventTypes())
	assert.False(t, p.Module().Description().Projection.DocumentIDs)
	assert.Nil(t, p.Module().Description().Transform)
}

func TestCartDetailsModuleKeepsTheGoDocumentsInline(t *testing.T) {
	store := memory.New(memory.WithProjections(sc.CartDetailsProjection(), wasmCartDetails(t, wasmCollection)))
	appends := scenario(1, 12, 300)
	types := map[string]int{}
	for _, a := range appends {
		for _, e := range a.events {
			name, err := sc.Events().TypeName(e)
			require.NoError(t, err)
			types[name]++
		}
	}
	for _, name := range sc.Events().Names() {
		assert.Positive(t, types[name], "the scenario has %s events", name)
	}
	appendScenario(t, store, appends)

	docs := details(t, rawDocuments(t, store.Documents(), sc.CartDetailsName))
	require.Len(t, docs, 12)
	statuses := map[string]int{}
	for _, d := range docs {
		statuses[d.Status]++
	}
	assert.Positive(t, statuses[sc.StatusOpened], "some carts are open")
	assert.Positive(t, statuses[sc.StatusConfirmed], "some carts are confirmed")
	assert.Positive(t, statuses[sc.StatusCancelled], "some carts are cancelled")
	sameDocuments(t, store)
}

func TestCartDetailsModuleKeepsTheGoDocumentsInAProcessor(t *testing.T) {
	store := memory.New(memory.WithProjections(sc.CartDetailsProjection()))
	p := wasmCartDetails(t, wasmCollection)
	ctx, cancel := context.WithCancel(context.Background())
	proc := projection.NewProjectionProcessor(store.Processors(), store.Source(projection.PollBatchSize(37), projection.PollInterval(10*time.Millisecond)), p)
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	defer func() {
		cancel()
		assert.NoError(t, <-done)
	}()

	last := appendScenario(t, store, scenario(2, 20, 400))
	wait, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	require.NoError(t, proc.WaitFor(wait, last))
	sameDocuments(t, store)

	// A rebuild replays the whole log into the same documents.
	require.NoError(t, store.Documents().DeleteAll(ctx, wasmCollection))
	require.NoError(t, proc.ResetAndRebuild(wait, nil))
	sameDocuments(t, store)
}
