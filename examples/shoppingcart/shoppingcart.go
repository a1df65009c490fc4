// Package shoppingcart is the sample domain of Emmett for Go: a client's
// shopping cart, modelled as a Decider, with its read models and HTTP API.
//
// A cart is opened by adding its first product item, takes more items and
// removals while open, and is closed by confirming or cancelling it.
package shoppingcart

import (
	"time"

	"github.com/emmett-go/emmett/emmett"
)

// PricedProductItem is a quantity of a product at a unit price.
type PricedProductItem struct {
	// ProductID names the product.
	ProductID string `json:"productId"`
	// Quantity is how many; positive.
	Quantity int `json:"quantity"`
	// UnitPrice is the price of one, as it was when the item was added.
	UnitPrice float64 `json:"unitPrice"`
}

// TotalPrice is Quantity times UnitPrice.
func (p PricedProductItem) TotalPrice() float64 { return float64(p.Quantity) * p.UnitPrice }

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
	UnitPrice float64
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
// are the Go type names, the same as Emmett for Node's sample uses.
func Events() *emmett.Events[Event] {
	return emmett.NewEvents[Event](
		ProductItemAddedToShoppingCart{},
		ProductItemRemovedFromShoppingCart{},
		ShoppingCartConfirmed{},
		ShoppingCartCancelled{},
	)
}
