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
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
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
	ProductID string
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
	ShoppingCartID string
	ClientID       string
	ProductItem    PricedProductItem
	Now            time.Time
}

// RemoveProductItemFromShoppingCart removes (part of) a product item.
type RemoveProductItemFromShoppingCart struct {
	ShoppingCartID string
	ProductItem    PricedProductItem
	Now            time.Time
}

// ConfirmShoppingCart confirms an opened cart with items.
type ConfirmShoppingCart struct {
	ShoppingCartID string
	Now            time.Time
}

// CancelShoppingCart cancels an opened cart.
type CancelShoppingCart struct {
	ShoppingCartID string
	Now            time.Time
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
	ShoppingCartID string            `json:"shoppingCartId"`
	ClientID       string            `json:"clientId"`
	ProductItem    PricedProductItem `json:"productItem"`
	AddedAt        time.Time         `json:"addedAt"`
}

// ProductItemRemovedFromShoppingCart records a product item removed.
type ProductItemRemovedFromShoppingCart struct {
	ShoppingCartID string            `json:"shoppingCartId"`
	ClientID       string            `json:"clientId"`
	ProductItem    PricedProductItem `json:"productItem"`
	RemovedAt      time.Time         `json:"removedAt"`
}

// ShoppingCartConfirmed records a cart confirmed.
type ShoppingCartConfirmed struct {
	ShoppingCartID string    `json:"shoppingCartId"`
	ClientID       string    `json:"clientId"`
	ConfirmedAt    time.Time `json:"confirmedAt"`
}

// ShoppingCartCancelled records a cart cancelled.
type ShoppingCartCancelled struct {
	ShoppingCartID string    `json:"shoppingCartId"`
	ClientID       string    `json:"clientId"`
	CancelledAt    time.Time `json:"cancelledAt"`
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
