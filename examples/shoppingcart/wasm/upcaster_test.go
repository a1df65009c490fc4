package wasm_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var at = time.Date(2024, 11, 5, 10, 30, 0, 0, time.UTC)

// v1Added is a ProductItemAddedToShoppingCart event as version 1 stored
// it: the unit price under "price".
func v1Added(cart, client, product string, quantity int, price float64) eventstore.EventData {
	data, _ := json.Marshal(map[string]any{
		"shoppingCartId": cart,
		"clientId":       client,
		"productItem":    map[string]any{"productId": product, "quantity": quantity, "price": price},
		"addedAt":        at,
	})
	return eventstore.EventData{Type: "ProductItemAddedToShoppingCart", Data: data}
}

func upcaster(t testing.TB) *wasm.Transformer {
	t.Helper()
	tr, err := wasm.NewTransformer(wasmtest.Load(t, "./upcaster"))
	require.NoError(t, err)
	return tr
}

func TestUpcasterOnRead(t *testing.T) {
	ctx := context.Background()
	const cart = "c1"
	stream := sc.StreamName(cart)
	inner := memory.New()
	v2, err := eventstore.Encode(sc.Events(), []sc.Event{sc.ProductItemAddedToShoppingCart{
		ShoppingCartID: cart, ClientID: "ann", ProductItem: sc.PricedProductItem{ProductID: "socks", Quantity: 5, UnitPrice: sc.EUR(3.5)}, AddedAt: at,
	}}, emmettMetadata)
	require.NoError(t, err)
	_, err = inner.AppendToStream(ctx, stream, append([]eventstore.EventData{v1Added(cart, "ann", "shoes", 2, 100)}, v2...))
	require.NoError(t, err)

	// Read as stored, through the Go upcasters alone (which know version
	// 1 as "unitPrice", not its earliest form, "price"), the version 1
	// event loses its price.
	plain, err := aggregate.LoadDecider(ctx, inner, sc.Decider(), sc.Events(), stream)
	require.NoError(t, err)
	assert.Equal(t, map[sc.ProductKey]int{{ProductID: "shoes", UnitPrice: sc.EUR(0)}: 2, {ProductID: "socks", UnitPrice: sc.EUR(3.5)}: 5},
		plain.State.(sc.OpenedShoppingCart).ProductItems)

	// Read through the upcaster, the aggregate sees version 2.
	store := wasm.NewStore(inner, wasm.TransformOnRead(upcaster(t)))
	loaded, err := aggregate.LoadDecider(ctx, store, sc.Decider(), sc.Events(), stream)
	require.NoError(t, err)
	assert.Equal(t, map[sc.ProductKey]int{{ProductID: "shoes", UnitPrice: sc.EUR(100)}: 2, {ProductID: "socks", UnitPrice: sc.EUR(3.5)}: 5},
		loaded.State.(sc.OpenedShoppingCart).ProductItems)
	assert.Equal(t, int64(2), loaded.Version)

	// So do command handlers: removing shoes at 100 is only possible if
	// the state knows their price.
	remove := sc.RemoveProductItemFromShoppingCart{ShoppingCartID: cart, ProductItem: sc.PricedProductItem{ProductID: "shoes", Quantity: 1, UnitPrice: sc.EUR(100)}, Now: at}
	_, err = command.NewDeciderHandler(inner, sc.Decider(), sc.Events()).Handle(ctx, stream, remove)
	require.ErrorIs(t, err, sc.ErrNotEnoughProducts)
	res, err := command.NewDeciderHandler(store, sc.Decider(), sc.Events()).Handle(ctx, stream, remove, eventstore.ExpectVersion(2))
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.NextExpectedVersion)

	// And read models fed through it.
	proc := projection.NewProjectionProcessor(inner.Processors(), backend.NewPollingSource(store, backend.ResolvePoll(projection.PollInterval(10*time.Millisecond))), sc.CartDetailsProjection())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proc.Run(runCtx) }()
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	require.NoError(t, proc.WaitFor(wait, res.Position))
	cancel()
	require.NoError(t, <-done)
	doc, found, err := sc.CartDetailsProjection().Collection(inner.Documents()).Get(ctx, stream)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, 117.5, doc.TotalAmount) // 2 x 100 + 5 x 3.5 - 100
	assert.Equal(t, []sc.PricedProductItem{{ProductID: "shoes", Quantity: 1, UnitPrice: sc.EUR(100)}, {ProductID: "socks", Quantity: 5, UnitPrice: sc.EUR(3.5)}}, doc.ProductItems)

	// The stored event is still version 1.
	var stored []string
	for e, err := range inner.ReadStream(ctx, stream) {
		require.NoError(t, err)
		stored = append(stored, string(e.Data))
	}
	assert.Contains(t, stored[0], `"price":100`)
	assert.NotContains(t, stored[0], "unitPrice")
}

func TestUpcasterBeforeAppend(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	store := wasm.NewStore(inner, wasm.TransformBeforeAppend(upcaster(t)))
	stream := sc.StreamName("c2")
	_, err := store.AppendToStream(ctx, stream, []eventstore.EventData{v1Added("c2", "bob", "hat", 1, 25)})
	require.NoError(t, err)

	var got []sc.Event
	for e, err := range inner.ReadStream(ctx, stream) {
		require.NoError(t, err)
		assert.NotContains(t, string(e.Data), `"price"`)
		assert.Contains(t, string(e.Data), `"unitPrice":{"amount":25,"currency":"EUR"}`)
		assert.Equal(t, 2, e.SchemaVersion, "stored as version 2, with its number")
		ev, err := sc.Events().Decode(e.Type, e.Data)
		require.NoError(t, err)
		got = append(got, ev)
	}
	assert.Equal(t, []sc.Event{sc.ProductItemAddedToShoppingCart{
		ShoppingCartID: "c2", ClientID: "bob", ProductItem: sc.PricedProductItem{ProductID: "hat", Quantity: 1, UnitPrice: sc.EUR(25)}, AddedAt: at,
	}}, got)
}

// The upcaster wrapping the app's SQLite backend: the client summary's
// asynchronous projector, fed by the backend's own (woken) feed, sees
// version 2 prices, and the app's reads and commands go through it too.
func TestUpcasterOnTheSQLiteBackend(t *testing.T) {
	ctx := context.Background()
	inner, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "carts.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = inner.Close() })
	backend := wasm.NewBackendStore(inner, wasm.TransformOnRead(upcaster(t)))
	var _ sc.Backend = backend // it stands where the app's backend goes

	_, err = inner.AppendToStream(ctx, sc.StreamName("c1"), []eventstore.EventData{v1Added("c1", "ann", "shoes", 2, 100)})
	require.NoError(t, err)
	// A command through the backend sees the version 1 price.
	remove := sc.RemoveProductItemFromShoppingCart{ShoppingCartID: "c1", ProductItem: sc.PricedProductItem{ProductID: "shoes", Quantity: 1, UnitPrice: sc.EUR(100)}, Now: at}
	res, err := command.NewDeciderHandler(backend, sc.Decider(), sc.Events()).Handle(ctx, sc.StreamName("c1"), remove)
	require.NoError(t, err)

	summary := projection.NewProjectionProcessor(backend.Processors(), backend.Source(projection.PollInterval(time.Minute)), sc.ClientSummaryProjection())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- summary.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	require.NoError(t, summary.WaitFor(wait, res.Position))

	doc, found, err := sc.ClientSummaryProjection().Collection(backend.Documents()).Get(ctx, "ann")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, 100.0, doc.Pending.TotalAmount, "2 x 100 - 1 x 100")
	assert.Equal(t, 1, doc.Pending.ProductItemsCount)
	cp, _, err := inner.Processors().ReadCheckpoint(ctx, summary.ID())
	require.NoError(t, err)
	assert.Equal(t, res.Position, cp)
}
