// Package shoppingcart is the sample domain of Emmett for Go: a client's
// shopping cart, modelled as a Decider, with its read models and HTTP API.
//
// A cart is opened by adding its first product item, takes more items and
// removals while open, and is closed by confirming or cancelling it.
package shoppingcart

import (
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/workflow"
)

// Money is an amount in a currency.
type Money struct {
	// Amount is how much, in units of the currency (2.5 is 2 euros and 50
	// cents).
	Amount float64 `json:"amount"`
	// Currency is the ISO 4217 code of the currency ("EUR").
	Currency string `json:"currency"`
}

// DefaultCurrency is the currency of the prices of DefaultPrices, and of
// the events stored before prices had a currency (version 1 of the
// product item events, whose unit price is a bare number).
const DefaultCurrency = "EUR"

// PricedProductItem is a quantity of a product at a unit price.
type PricedProductItem struct {
	// ProductID names the product.
	ProductID string `json:"productId"`
	// Quantity is how many; positive.
	Quantity int `json:"quantity"`
	// UnitPrice is the price of one, as it was when the item was added.
	UnitPrice Money `json:"unitPrice"`
}

// TotalPrice is Quantity times UnitPrice's amount, in its currency.
func (p PricedProductItem) TotalPrice() float64 { return float64(p.Quantity) * p.UnitPrice.Amount }

// Key identifies the product at its price: the same product added at two
// prices is two lines of a cart.
func (p PricedProductItem) Key() ProductKey {
	return ProductKey{ProductID: p.ProductID, UnitPrice: p.UnitPrice}
}

// ProductKey is a product at a unit price.
type ProductKey struct {
	// ProductID names the product.
	ProductID string
	// UnitPrice is the price of one.
	UnitPrice Money
}

// StreamName returns the name of a cart's stream.
func StreamName(shoppingCartID string) string { return "shopping_cart-" + shoppingCartID }

// Commands.

// Command is a shopping-cart command.
type Command interface{ isCommand() }

// AddProductItemToShoppingCart adds a product item, opening the cart if it
// has none yet.
type AddProductItemToShoppingCart struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string
	// ClientID is the client the cart belongs to.
	ClientID string
	// ProductItem is what is added, priced by the caller.
	ProductItem PricedProductItem
	// Now is the time of the command: Decide never reads the clock.
	Now time.Time
}

// RemoveProductItemFromShoppingCart removes (part of) a product item.
type RemoveProductItemFromShoppingCart struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string
	// ProductItem is what is removed: a product at the price it was added
	// at, and how many.
	ProductItem PricedProductItem
	// Now is the time of the command.
	Now time.Time
}

// ConfirmShoppingCart confirms an opened cart with items.
type ConfirmShoppingCart struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string
	// Now is the time of the command.
	Now time.Time
}

// CancelShoppingCart cancels an opened cart.
type CancelShoppingCart struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string
	// Now is the time of the command.
	Now time.Time
}

func (AddProductItemToShoppingCart) isCommand()      {}
func (RemoveProductItemFromShoppingCart) isCommand() {}
func (ConfirmShoppingCart) isCommand()               {}
func (CancelShoppingCart) isCommand()                {}

// Events.
//
// The product item events are at schema version 2, where a unit price is a
// Money (an amount and its currency). Version 1, which databases from
// before still hold, stored it as a bare number, in DefaultCurrency: the
// registry (Events) upcasts those on every read, and writes version 2.

// Event is a shopping-cart event.
type Event interface{ isEvent() }

// ProductItemAddedToShoppingCart records a product item added.
type ProductItemAddedToShoppingCart struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string `json:"shoppingCartId"`
	// ClientID is the client the cart belongs to.
	ClientID string `json:"clientId"`
	// ProductItem is the item added.
	ProductItem PricedProductItem `json:"productItem"`
	// AddedAt is when it was added.
	AddedAt time.Time `json:"addedAt"`
}

// ProductItemRemovedFromShoppingCart records a product item removed.
type ProductItemRemovedFromShoppingCart struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string `json:"shoppingCartId"`
	// ClientID is the client the cart belongs to.
	ClientID string `json:"clientId"`
	// ProductItem is the item removed.
	ProductItem PricedProductItem `json:"productItem"`
	// RemovedAt is when it was removed.
	RemovedAt time.Time `json:"removedAt"`
}

// ShoppingCartConfirmed records a cart confirmed.
type ShoppingCartConfirmed struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string `json:"shoppingCartId"`
	// ClientID is the client the cart belongs to.
	ClientID string `json:"clientId"`
	// ConfirmedAt is when it was confirmed.
	ConfirmedAt time.Time `json:"confirmedAt"`
}

// ShoppingCartCancelled records a cart cancelled.
type ShoppingCartCancelled struct {
	// ShoppingCartID is the cart's id.
	ShoppingCartID string `json:"shoppingCartId"`
	// ClientID is the client the cart belongs to.
	ClientID string `json:"clientId"`
	// CancelledAt is when it was cancelled.
	CancelledAt time.Time `json:"cancelledAt"`
}

func (ProductItemAddedToShoppingCart) isEvent()     {}
func (ProductItemRemovedFromShoppingCart) isEvent() {}
func (ShoppingCartConfirmed) isEvent()              {}
func (ShoppingCartCancelled) isEvent()              {}

// Events returns the registry of shopping-cart events. The stored type names
// are the Go type names, the same as Emmett for Node's sample uses. The
// product item events read their version 1 (a unit price as a bare
// number) as version 2, with the price in DefaultCurrency.
func Events() *emmett.Events[Event] {
	return upcastProductItems(emmett.NewEvents[Event](
		ProductItemAddedToShoppingCart{},
		ProductItemRemovedFromShoppingCart{},
		ShoppingCartConfirmed{},
		ShoppingCartCancelled{},
	))
}

// upcastProductItems returns r reading version 1 of the product item
// events, which r must hold, as version 2.
func upcastProductItems[E any](r *emmett.Events[E]) *emmett.Events[E] {
	return r.
		Upcast("ProductItemAddedToShoppingCart", 1, emmett.UpcastJSON(func(v1 productItemAddedV1) (ProductItemAddedToShoppingCart, error) {
			return ProductItemAddedToShoppingCart{ShoppingCartID: v1.ShoppingCartID, ClientID: v1.ClientID,
				ProductItem: v1.ProductItem.upcast(), AddedAt: v1.AddedAt}, nil
		})).
		Upcast("ProductItemRemovedFromShoppingCart", 1, emmett.UpcastJSON(func(v1 productItemRemovedV1) (ProductItemRemovedFromShoppingCart, error) {
			return ProductItemRemovedFromShoppingCart{ShoppingCartID: v1.ShoppingCartID, ClientID: v1.ClientID,
				ProductItem: v1.ProductItem.upcast(), RemovedAt: v1.RemovedAt}, nil
		}))
}

// pricedProductItemV1 is a product item as version 1 of the events stored
// it: the unit price a bare number, in DefaultCurrency.
type pricedProductItemV1 struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
}

func (p pricedProductItemV1) upcast() PricedProductItem {
	return PricedProductItem{ProductID: p.ProductID, Quantity: p.Quantity, UnitPrice: Money{Amount: p.UnitPrice, Currency: DefaultCurrency}}
}

// productItemAddedV1 is version 1 of ProductItemAddedToShoppingCart.
type productItemAddedV1 struct {
	ShoppingCartID string              `json:"shoppingCartId"`
	ClientID       string              `json:"clientId"`
	ProductItem    pricedProductItemV1 `json:"productItem"`
	AddedAt        time.Time           `json:"addedAt"`
}

// productItemRemovedV1 is version 1 of ProductItemRemovedFromShoppingCart.
type productItemRemovedV1 struct {
	ShoppingCartID string              `json:"shoppingCartId"`
	ClientID       string              `json:"clientId"`
	ProductItem    pricedProductItemV1 `json:"productItem"`
	RemovedAt      time.Time           `json:"removedAt"`
}

// EUR returns amount in euros.
func EUR(amount float64) Money { return Money{Amount: amount, Currency: "EUR"} }

// Upgrade takes an event of the app's (a cart's, a client's list of
// carts, an order's, or a record of the checkout workflow) from its stored
// type name, schema version and data to the current ones: what the app's
// event feed (httpapi.WithUpgrade) and its build of the command-line tool
// (cli.WithUpgrade) serve and print.
func Upgrade(typeName string, version int, data []byte) (string, int, []byte, error) {
	return emmett.UpgradeAny(Events().Upgrade, ClientEvents().Upgrade, OrderEvents().Upgrade,
		workflow.Upgrade(CheckoutInputs(), CheckoutOutputs()))(typeName, version, data)
}

// Schema is what the app's registries read, for emmett check
// (cli.WithSchema, or the JSON of it with -schema).
func Schema() emmett.Schema {
	return emmett.MergeSchemas(Events().Schema(), ClientEvents().Schema(), OrderEvents().Schema(),
		workflow.Schema(CheckoutInputs(), CheckoutOutputs()))
}
