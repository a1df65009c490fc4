package shoppingcart_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The product item events as version 1 stored them: the unit price a bare
// number (in euros).
const (
	addedV1   = `{"shoppingCartId":"cart-1","clientId":"client-1","productItem":{"productId":"shoes","quantity":2,"unitPrice":100},"addedAt":"2026-11-25T10:00:00Z"}`
	removedV1 = `{"shoppingCartId":"cart-1","clientId":"client-1","productItem":{"productId":"shoes","quantity":1,"unitPrice":100},"removedAt":"2026-11-25T10:01:00Z"}`
)

func TestVersion1EventsAreUpcast(t *testing.T) {
	events := sc.Events()
	v, ok := events.SchemaVersion("ProductItemAddedToShoppingCart")
	require.True(t, ok)
	assert.Equal(t, 2, v, "the product item events are at version 2")

	assert.Equal(t, added(shoes), spec.Stored(t, events, "ProductItemAddedToShoppingCart", 1, addedV1))
	assert.Equal(t, removed(with(shoes, 1)), spec.Stored(t, events, "ProductItemRemovedFromShoppingCart", 1, removedV1))

	// A cart of version 1 events takes commands: the decider sees the
	// prices in euros.
	d := sc.Decider()
	v1Cart := spec.For(t, d).Given(
		spec.Stored(t, events, "ProductItemAddedToShoppingCart", 1, addedV1),
		spec.Stored(t, events, "ProductItemRemovedFromShoppingCart", 1, removedV1))
	v1Cart.When(remove(with(shoes, 1))).Then(removed(with(shoes, 1)))
	v1Cart.When(add(socks)).Then(added(socks))

	// Writes store version 2, with its number.
	typ, version, data, err := events.EncodeVersion(added(shoes))
	require.NoError(t, err)
	assert.Equal(t, "ProductItemAddedToShoppingCart", typ)
	assert.Equal(t, 2, version)
	assert.JSONEq(t, `{"shoppingCartId":"cart-1","clientId":"client-1","productItem":{"productId":"shoes","quantity":2,"unitPrice":{"amount":100,"currency":"EUR"}},"addedAt":"2026-11-25T10:00:00Z"}`, string(data))

	// Read models built from version 1 events.
	spec.ForDocuments(t, sc.CartDetailsProjection(), events).
		GivenStored("shopping_cart-cart-1",
			eventstore.EventData{Type: "ProductItemAddedToShoppingCart", Data: []byte(addedV1), SchemaVersion: 1},
			eventstore.EventData{Type: "ProductItemRemovedFromShoppingCart", Data: []byte(removedV1), SchemaVersion: 1}).
		ThenDocument("shopping_cart-cart-1", sc.ShoppingCartDetails{
			ID: "cart-1", ClientID: "client-1", Status: sc.StatusOpened, OpenedAt: now, Currency: "EUR",
			ProductItems: []sc.PricedProductItem{with(shoes, 1)}, ProductItemsCount: 1, TotalAmount: 100,
		})
}

func TestCurrencies(t *testing.T) {
	d := sc.Decider()
	dollarHat := hat
	dollarHat.UnitPrice.Currency = "USD"
	t.Run("ACartIsPricedInTheCurrencyOfItsFirstItem", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(add(dollarHat)).ThenError(sc.ErrOtherCurrency)
		spec.For(t, d).Given(added(dollarHat)).When(add(with(dollarHat, 2))).Then(added(with(dollarHat, 2)))
	})
	t.Run("ACurrencyIsThreeCapitalLetters", func(t *testing.T) {
		for _, code := range []string{"", "eur", "EURO", "E1R"} {
			p := shoes
			p.UnitPrice.Currency = code
			spec.For(t, d).When(add(p)).ThenError(sc.ErrInvalidCurrency)
			if code != "" {
				spec.For(t, d).Given(added(shoes)).When(remove(p)).ThenError(sc.ErrInvalidCurrency)
			}
		}
	})
	t.Run("ARemovalWithoutACurrencyIsInTheCartsCurrency", func(t *testing.T) {
		bare := with(shoes, 1)
		bare.UnitPrice.Currency = ""
		spec.For(t, d).Given(added(shoes)).When(remove(bare)).Then(removed(with(shoes, 1)))
		other := with(shoes, 1)
		other.UnitPrice.Currency = "USD"
		spec.For(t, d).Given(added(shoes)).When(remove(other)).ThenError(sc.ErrNotEnoughProducts)
	})
	t.Run("OverHTTP", func(t *testing.T) {
		store, app := newApp(t)
		items := "/clients/ann/shopping-carts/current/product-items"
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post(items, map[string]any{"productId": "socks", "quantity": 3})).
			ThenStatus(http.StatusCreated)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Delete(items + "?productId=socks&quantity=1&unitPrice=3.5&currency=EUR")).
			ThenStatus(http.StatusOK)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Delete(items + "?productId=socks&quantity=1&unitPrice=3.5&currency=USD")).
			ThenStatus(http.StatusForbidden)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Delete(items + "?productId=socks&quantity=1&unitPrice=3.5&currency=usd")).
			ThenStatus(http.StatusBadRequest).
			ThenJSONContains(map[string]any{"name": "currency"})
	})
}

// A database that holds version 1 events keeps working: the app reads its
// carts, takes commands on them, and writes version 2.
func TestAppOnAVersion1Database(t *testing.T) {
	ctx := context.Background()
	store, app := newApp(t)
	spec.ForHTTP(t, store, sc.Events(), app.Handler()).
		When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "shoes", "quantity": 1})).
		ThenStatus(http.StatusCreated)
	// Replace nothing: append version 1 events, as an older version of
	// the app would have, to the cart the app opened.
	stream := sc.StreamName("ann:1")
	v1 := func(typ, data string) eventstore.EventData {
		return eventstore.EventData{Type: typ, Data: []byte(data), SchemaVersion: 1}
	}
	_, err := store.AppendToStream(ctx, stream, []eventstore.EventData{
		v1("ProductItemAddedToShoppingCart", `{"shoppingCartId":"ann:1","clientId":"ann","productItem":{"productId":"hat","quantity":2,"unitPrice":25},"addedAt":"2026-11-25T10:00:00Z"}`),
	}, eventstore.ExpectVersion(1))
	require.NoError(t, err)

	spec.ForHTTP(t, store, sc.Events(), app.Handler()).
		When(spec.Delete("/clients/ann/shopping-carts/current/product-items?productId=hat&quantity=1&unitPrice=25")).
		ThenStatus(http.StatusOK)
	var stored []struct {
		version int
		data    map[string]any
	}
	for e, err := range store.ReadStream(ctx, stream) {
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &m))
		stored = append(stored, struct {
			version int
			data    map[string]any
		}{e.SchemaVersion, m})
	}
	require.Len(t, stored, 3)
	assert.Equal(t, []int{2, 1, 2}, []int{stored[0].version, stored[1].version, stored[2].version})
	assert.Equal(t, map[string]any{"amount": 25.0, "currency": "EUR"}, stored[2].data["productItem"].(map[string]any)["unitPrice"],
		"the removal of a version 1 item is written at version 2")
}
