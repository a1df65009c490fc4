package shoppingcart

import (
	"fmt"
	"maps"

	"github.com/emmett-go/emmett/emmett"
)

// ShoppingCart is the state of a cart: EmptyShoppingCart,
// OpenedShoppingCart or ClosedShoppingCart.
type ShoppingCart interface{ isShoppingCart() }

// EmptyShoppingCart is a cart with no events yet.
type EmptyShoppingCart struct{}

// OpenedShoppingCart is a cart that takes items; ProductItems holds the
// quantity of each product at each price (lines with no quantity left are
// removed).
type OpenedShoppingCart struct {
	// ClientID is the client the cart belongs to.
	ClientID string
	// ProductItems is the quantity of each product at each price.
	ProductItems map[ProductKey]int
}

// ClosedShoppingCart is a confirmed or cancelled cart.
type ClosedShoppingCart struct{}

func (EmptyShoppingCart) isShoppingCart()  {}
func (OpenedShoppingCart) isShoppingCart() {}
func (ClosedShoppingCart) isShoppingCart() {}

// Errors of the business rules. Each wraps emmett.ErrIllegalState (a rule
// of the cart's state: answered 403 by the HTTP API) or emmett.ErrValidation
// (malformed input: 400).
var (
	ErrCartClosed        = fmt.Errorf("%w: shopping cart is closed", emmett.ErrIllegalState)
	ErrCartNotOpened     = fmt.Errorf("%w: shopping cart is not opened", emmett.ErrIllegalState)
	ErrNotEnoughProducts = fmt.Errorf("%w: not enough product items to remove", emmett.ErrIllegalState)
	ErrCartEmpty         = fmt.Errorf("%w: shopping cart is empty", emmett.ErrIllegalState)
	ErrOtherClientsCart  = fmt.Errorf("%w: shopping cart belongs to another client", emmett.ErrIllegalState)
	ErrInvalidClientID   = fmt.Errorf("%w: client id is required", emmett.ErrValidation)
	ErrInvalidQuantity   = fmt.Errorf("%w: quantity must be positive", emmett.ErrValidation)
	ErrInvalidUnitPrice  = fmt.Errorf("%w: unit price must not be negative", emmett.ErrValidation)
	ErrInvalidProductID  = fmt.Errorf("%w: product id is required", emmett.ErrValidation)
)

// Decider is the shopping cart's Decider.
func Decider() emmett.Decider[ShoppingCart, Command, Event] {
	return emmett.Decider[ShoppingCart, Command, Event]{
		Decide:       Decide,
		Evolve:       Evolve,
		InitialState: InitialState,
	}
}

// InitialState is an empty cart.
func InitialState() ShoppingCart { return EmptyShoppingCart{} }

// Decide applies the business rules to a command.
func Decide(cmd Command, state ShoppingCart) ([]Event, error) {
	switch c := cmd.(type) {
	case AddProductItemToShoppingCart:
		if err := validate(c.ProductItem); err != nil {
			return nil, err
		}
		if c.ClientID == "" {
			return nil, ErrInvalidClientID
		}
		switch st := state.(type) {
		case ClosedShoppingCart:
			return nil, ErrCartClosed
		case OpenedShoppingCart:
			if st.ClientID != c.ClientID {
				return nil, ErrOtherClientsCart
			}
		}
		return []Event{ProductItemAddedToShoppingCart{
			ShoppingCartID: c.ShoppingCartID, ClientID: c.ClientID, ProductItem: c.ProductItem, AddedAt: c.Now,
		}}, nil

	case RemoveProductItemFromShoppingCart:
		if err := validate(c.ProductItem); err != nil {
			return nil, err
		}
		opened, ok := state.(OpenedShoppingCart)
		if !ok {
			return nil, ErrCartNotOpened
		}
		if opened.ProductItems[c.ProductItem.Key()] < c.ProductItem.Quantity {
			return nil, ErrNotEnoughProducts
		}
		return []Event{ProductItemRemovedFromShoppingCart{
			ShoppingCartID: c.ShoppingCartID, ClientID: opened.ClientID, ProductItem: c.ProductItem, RemovedAt: c.Now,
		}}, nil

	case ConfirmShoppingCart:
		opened, ok := state.(OpenedShoppingCart)
		if !ok {
			return nil, ErrCartNotOpened
		}
		if len(opened.ProductItems) == 0 {
			return nil, ErrCartEmpty
		}
		return []Event{ShoppingCartConfirmed{ShoppingCartID: c.ShoppingCartID, ClientID: opened.ClientID, ConfirmedAt: c.Now}}, nil

	case CancelShoppingCart:
		opened, ok := state.(OpenedShoppingCart)
		if !ok {
			return nil, ErrCartNotOpened
		}
		return []Event{ShoppingCartCancelled{ShoppingCartID: c.ShoppingCartID, ClientID: opened.ClientID, CancelledAt: c.Now}}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %T", emmett.ErrValidation, cmd)
}

func validate(p PricedProductItem) error {
	switch {
	case p.ProductID == "":
		return ErrInvalidProductID
	case p.Quantity <= 0:
		return ErrInvalidQuantity
	case p.UnitPrice < 0:
		return ErrInvalidUnitPrice
	}
	return nil
}

// Evolve applies an event to a cart. It does not change the given state.
func Evolve(state ShoppingCart, event Event) ShoppingCart {
	switch e := event.(type) {
	case ProductItemAddedToShoppingCart:
		items := map[ProductKey]int{}
		if opened, ok := state.(OpenedShoppingCart); ok {
			items = maps.Clone(opened.ProductItems)
		}
		items[e.ProductItem.Key()] += e.ProductItem.Quantity
		return OpenedShoppingCart{ClientID: e.ClientID, ProductItems: items}

	case ProductItemRemovedFromShoppingCart:
		opened, ok := state.(OpenedShoppingCart)
		if !ok {
			return state
		}
		items := maps.Clone(opened.ProductItems)
		key := e.ProductItem.Key()
		if items[key] -= e.ProductItem.Quantity; items[key] <= 0 {
			delete(items, key)
		}
		return OpenedShoppingCart{ClientID: opened.ClientID, ProductItems: items}

	case ShoppingCartConfirmed, ShoppingCartCancelled:
		return ClosedShoppingCart{}
	}
	return state
}
