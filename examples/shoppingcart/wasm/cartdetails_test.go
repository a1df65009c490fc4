package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
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

// Version 1 events (a bare unit price) reach the module as stored, with
// schemaVersion 1 in the envelope, which it reads itself; or upgraded to
// version 2 by the Go registry in the host (wasm.WithUpgrade). Either way
// the documents are the Go projection's, byte for byte.
func TestCartDetailsModuleReadsVersion1Events(t *testing.T) {
	ctx := context.Background()
	m := wasmtest.Load(t, "./cartdetails")
	upgraded, err := wasm.NewProjection(m, sc.CartDetailsName, wasm.WithCollection("upgraded"), wasm.WithUpgrade(sc.Events().Upgrade))
	require.NoError(t, err)
	store := memory.New(memory.WithProjections(sc.CartDetailsProjection(), wasmCartDetails(t, wasmCollection), upgraded))
	v1 := func(typ, data string) eventstore.EventData {
		return eventstore.EventData{Type: typ, Data: []byte(data), SchemaVersion: 1}
	}
	_, err = store.AppendToStream(ctx, sc.StreamName("c1"), []eventstore.EventData{
		v1("ProductItemAddedToShoppingCart", `{"shoppingCartId":"c1","clientId":"ann","productItem":{"productId":"shoes","quantity":2,"unitPrice":100},"addedAt":"2024-11-05T10:30:00Z"}`),
		v1("ProductItemAddedToShoppingCart", `{"shoppingCartId":"c1","clientId":"ann","productItem":{"productId":"socks","quantity":4,"unitPrice":3.5},"addedAt":"2024-11-05T10:31:00Z"}`),
		v1("ProductItemRemovedFromShoppingCart", `{"shoppingCartId":"c1","clientId":"ann","productItem":{"productId":"socks","quantity":1,"unitPrice":3.5},"removedAt":"2024-11-05T10:32:00Z"}`),
	})
	require.NoError(t, err)
	add, err := eventstore.Encode(sc.Events(), []sc.Event{sc.ProductItemAddedToShoppingCart{
		ShoppingCartID: "c1", ClientID: "ann", ProductItem: sc.PricedProductItem{ProductID: "hat", Quantity: 1, UnitPrice: sc.EUR(25)}, AddedAt: at,
	}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = store.AppendToStream(ctx, sc.StreamName("c1"), add)
	require.NoError(t, err)

	goDocs := rawDocuments(t, store.Documents(), sc.CartDetailsName)
	require.Len(t, goDocs, 1)
	doc := details(t, goDocs)[sc.StreamName("c1")]
	assert.Equal(t, 200+3*3.5+25, doc.TotalAmount)
	assert.Equal(t, "EUR", doc.Currency)
	sameDocuments(t, store)
	assert.Equal(t, goDocs, rawDocuments(t, store.Documents(), "upgraded"))
}
