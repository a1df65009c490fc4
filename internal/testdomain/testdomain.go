// Package testdomain is the small domain that the library's own tests,
// examples and benchmarks run on, so that no part of the library depends
// on the sample application (examples/shoppingcart, which depends on the
// library).
//
// A client's cart takes items until it is confirmed or cancelled. Its
// read models are the details of each cart (a single-stream document
// projection) and the totals of each client's items (a multi-stream one).
package testdomain

import (
	"fmt"
	"maps"
	"time"

	"github.com/emmett-go/emmett/emmett"
)

// Item is a quantity of a product at a unit price.
type Item struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
}

// StreamName returns the name of a cart's stream.
func StreamName(cartID string) string { return "cart-" + cartID }

// Command is a cart command.
type Command interface{ isCommand() }

// AddItem adds an item to a cart, opening it if it is new.
type AddItem struct {
	CartID   string
	ClientID string
	Item     Item
	Now      time.Time
}

// RemoveItem takes a quantity of an item out of an open cart.
type RemoveItem struct {
	CartID string
	Item   Item
	Now    time.Time
}

// ConfirmCart confirms an open cart.
type ConfirmCart struct {
	CartID string
	Now    time.Time
}

// CancelCart cancels an open cart.
type CancelCart struct {
	CartID string
	Now    time.Time
}

func (AddItem) isCommand()     {}
func (RemoveItem) isCommand()  {}
func (ConfirmCart) isCommand() {}
func (CancelCart) isCommand()  {}

// Event is a cart event.
type Event interface{ isEvent() }

// ItemAdded records an item added to a cart.
type ItemAdded struct {
	CartID   string    `json:"cartId"`
	ClientID string    `json:"clientId"`
	Item     Item      `json:"item"`
	At       time.Time `json:"at"`
}

// ItemRemoved records a quantity of an item taken out of a cart.
type ItemRemoved struct {
	CartID string    `json:"cartId"`
	Item   Item      `json:"item"`
	At     time.Time `json:"at"`
}

// CartConfirmed records a cart confirmed.
type CartConfirmed struct {
	CartID string    `json:"cartId"`
	At     time.Time `json:"at"`
}

// CartCancelled records a cart cancelled.
type CartCancelled struct {
	CartID string    `json:"cartId"`
	At     time.Time `json:"at"`
}

func (ItemAdded) isEvent()     {}
func (ItemRemoved) isEvent()   {}
func (CartConfirmed) isEvent() {}
func (CartCancelled) isEvent() {}

// Events returns the registry of cart events, stored under their Go type
// names.
func Events() *emmett.Events[Event] {
	return emmett.NewEvents[Event](ItemAdded{}, ItemRemoved{}, CartConfirmed{}, CartCancelled{})
}

// Status is where a cart is in its life: "" before its first item.
type Status string

// A cart's statuses.
const (
	Open      Status = "open"
	Confirmed Status = "confirmed"
	Cancelled Status = "cancelled"
)

// Cart is the state of a cart.
type Cart struct {
	// ClientID is the client the cart belongs to.
	ClientID string
	// Quantities is the quantity of each product in the cart.
	Quantities map[string]int
	// Status is the cart's status.
	Status Status
}

// The business rules' errors.
var (
	ErrCartClosed      = fmt.Errorf("%w: cart is closed", emmett.ErrIllegalState)
	ErrCartNotOpen     = fmt.Errorf("%w: cart is not open", emmett.ErrIllegalState)
	ErrNotInCart       = fmt.Errorf("%w: not that many items in the cart", emmett.ErrIllegalState)
	ErrInvalidQuantity = fmt.Errorf("%w: quantity must be positive", emmett.ErrValidation)
)

// Decider is the cart's Decider.
func Decider() emmett.Decider[Cart, Command, Event] {
	return emmett.Decider[Cart, Command, Event]{Decide: Decide, Evolve: Evolve, InitialState: InitialState}
}

// InitialState is a cart with no events.
func InitialState() Cart { return Cart{} }

// Decide applies the rules to a command.
func Decide(cmd Command, cart Cart) ([]Event, error) {
	switch c := cmd.(type) {
	case AddItem:
		if c.Item.Quantity <= 0 {
			return nil, ErrInvalidQuantity
		}
		if cart.Status != "" && cart.Status != Open {
			return nil, ErrCartClosed
		}
		return []Event{ItemAdded{CartID: c.CartID, ClientID: c.ClientID, Item: c.Item, At: c.Now}}, nil
	case RemoveItem:
		if c.Item.Quantity <= 0 {
			return nil, ErrInvalidQuantity
		}
		if cart.Status != Open {
			return nil, ErrCartNotOpen
		}
		if cart.Quantities[c.Item.ProductID] < c.Item.Quantity {
			return nil, ErrNotInCart
		}
		return []Event{ItemRemoved{CartID: c.CartID, Item: c.Item, At: c.Now}}, nil
	case ConfirmCart:
		if cart.Status != Open {
			return nil, ErrCartNotOpen
		}
		return []Event{CartConfirmed{CartID: c.CartID, At: c.Now}}, nil
	case CancelCart:
		if cart.Status != Open {
			return nil, ErrCartNotOpen
		}
		return []Event{CartCancelled{CartID: c.CartID, At: c.Now}}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %T", emmett.ErrValidation, cmd)
}

// Evolve applies an event to a cart, leaving the given one as it was.
func Evolve(cart Cart, event Event) Cart {
	switch e := event.(type) {
	case ItemAdded:
		cart = Cart{ClientID: e.ClientID, Quantities: maps.Clone(cart.Quantities), Status: Open}
		if cart.Quantities == nil {
			cart.Quantities = map[string]int{}
		}
		cart.Quantities[e.Item.ProductID] += e.Item.Quantity
	case ItemRemoved:
		left := cart.Quantities[e.Item.ProductID] - e.Item.Quantity
		cart.Quantities = maps.Clone(cart.Quantities)
		if left > 0 {
			cart.Quantities[e.Item.ProductID] = left
		} else {
			delete(cart.Quantities, e.Item.ProductID)
		}
	case CartConfirmed:
		cart.Status = Confirmed
	case CartCancelled:
		cart.Status = Cancelled
	}
	return cart
}
