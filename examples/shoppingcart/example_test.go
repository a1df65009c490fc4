package shoppingcart_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
)

// The cart's business rules, without a store: Run folds the given events
// and decides the command.
func ExampleDecider() {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	shoes := sc.PricedProductItem{ProductID: "shoes", Quantity: 2, UnitPrice: sc.EUR(100)}
	cart := sc.Decider()

	state, events, err := cart.Run(sc.AddProductItemToShoppingCart{ShoppingCartID: "1", ClientID: "ann", ProductItem: shoes, Now: now})
	fmt.Printf("%T %d %v\n", events[0], len(state.(sc.OpenedShoppingCart).ProductItems), err)

	_, _, err = cart.Run(sc.ConfirmShoppingCart{ShoppingCartID: "1", Now: now})
	fmt.Println(err)

	_, events, err = cart.Run(sc.ConfirmShoppingCart{ShoppingCartID: "1", Now: now}, events...)
	fmt.Printf("%T %v\n", events[0], err)
	// Output:
	// shoppingcart.ProductItemAddedToShoppingCart 1 <nil>
	// emmett: illegal state: shopping cart is not opened
	// shoppingcart.ShoppingCartConfirmed <nil>
}

// The HTTP API on the in-memory store, with the cart's inline read models.
func ExampleApp() {
	store := memory.New(memory.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	app := &sc.App{Store: store, Now: func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }}
	api := app.Handler()

	serve := func(method, target, body string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("ETag"), strings.TrimSpace(rec.Body.String()))
	}
	// The first add opens ann's cart on ann's stream (the log's first
	// event), then adds to it: the cart's first event is the log's second.
	serve(http.MethodPost, "/clients/ann/shopping-carts/current/product-items", `{"productId":"socks","quantity":3}`)
	serve(http.MethodGet, "/clients/ann/shopping-carts/current", "")
	serve(http.MethodPost, "/clients/ann/shopping-carts/current/product-items", `{"productId":"caviar","quantity":1}`)
	// Output:
	// 201 W/"1" {"nextExpectedVersion":1,"position":"2"}
	// 200 W/"1" {"id":"ann:1","clientId":"ann","productItems":[{"productId":"socks","quantity":3,"unitPrice":{"amount":3.5,"currency":"EUR"}}],"productItemsCount":3,"totalAmount":10.5,"currency":"EUR","status":"Opened","openedAt":"2026-01-02T15:04:05Z"}
	// 404  {"type":"about:blank","title":"Not Found","status":404,"detail":"not found: unknown product \"caviar\"","instance":"/clients/ann/shopping-carts/current/product-items"}
}
