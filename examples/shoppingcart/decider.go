package shoppingcart

import (
	"fmt"
	"maps"
	"math"

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
	// Currency is the currency of the cart's prices: that of its first
	// item. Every item of a cart is priced in it.
	Currency string
	// ProductItems is the quantity of each product at each price.
	ProductItems map[ProductKey]int
}

// ClosedShoppingCart is a confirmed or cancelled cart.
type ClosedShoppingCart struct{}

func (EmptyShoppingCart) isShoppingCart()  {}
func (OpenedShoppingCart) isShoppingCart() {}
func (ClosedShoppingCart) isShoppingCart() {}

// Bounds of a cart. They keep every quantity and sum a cart and its read
// models hold far from the limits of int and float64, so that none can
// overflow; a command that would go past one is rejected as invalid
// (emmett.ErrValidation, answered 400 by the HTTP API).
const (
	// MaxQuantity is the most of a product at one price that a cart
	// holds, and so the most that one command adds or removes.
	MaxQuantity = 10_000
	// MaxProductItems is the most product items that a cart holds, all
	// its lines together.
	MaxProductItems = 100_000
	// MaxUnitPrice is the highest unit price. A price is a finite number
	// from 0 to MaxUnitPrice: NaN and infinities are invalid.
	MaxUnitPrice = 1_000_000
)

// Errors of the business rules. Each wraps emmett.ErrIllegalState (a rule
// of the cart's state: answered 403 by the HTTP API) or emmett.ErrValidation
// (malformed input: 400).
var (
	ErrCartClosed        = fmt.Errorf("%w: shopping cart is closed", emmett.ErrIllegalState)
	ErrCartNotOpened     = fmt.Errorf("%w: shopping cart is not opened", emmett.ErrIllegalState)
	ErrNotEnoughProducts = fmt.Errorf("%w: not enough product items to remove", emmett.ErrIllegalState)
	ErrCartEmpty         = fmt.Errorf("%w: shopping cart is empty", emmett.ErrIllegalState)
	ErrOtherClientsCart  = fmt.Errorf("%w: shopping cart belongs to another client", emmett.ErrIllegalState)
	ErrOtherCurrency     = fmt.Errorf("%w: shopping cart is priced in another currency", emmett.ErrIllegalState)
	ErrInvalidClientID   = fmt.Errorf("%w: client id is required", emmett.ErrValidation)
	ErrInvalidQuantity   = fmt.Errorf("%w: quantity must be from 1 to %d", emmett.ErrValidation, MaxQuantity)
	ErrInvalidUnitPrice  = fmt.Errorf("%w: unit price must be a number from 0 to %d", emmett.ErrValidation, MaxUnitPrice)
	ErrInvalidCurrency   = fmt.Errorf("%w: currency must be an ISO 4217 code of 3 capital letters", emmett.ErrValidation)
	ErrInvalidProductID  = fmt.Errorf("%w: product id is required", emmett.ErrValidation)
	ErrTooManyOfProduct  = fmt.Errorf("%w: a cart holds at most %d of a product at a price", emmett.ErrValidation, MaxQuantity)
	ErrTooManyProducts   = fmt.Errorf("%w: a cart holds at most %d product items", emmett.ErrValidation, MaxProductItems)
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
		if !validCurrency(c.ProductItem.UnitPrice.Currency) {
			return nil, ErrInvalidCurrency
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
			if c.ProductItem.UnitPrice.Currency != st.Currency {
				return nil, ErrOtherCurrency
			}
			if err := st.canHold(c.ProductItem); err != nil {
				return nil, err
			}
		}
		return []Event{ProductItemAddedToShoppingCart{
			ShoppingCartID: c.ShoppingCartID, ClientID: c.ClientID, ProductItem: c.ProductItem, AddedAt: c.Now,
		}}, nil

	case RemoveProductItemFromShoppingCart:
		if err := validate(c.ProductItem); err != nil {
			return nil, err
		}
		if cur := c.ProductItem.UnitPrice.Currency; cur != "" && !validCurrency(cur) {
			return nil, ErrInvalidCurrency
		}
		opened, ok := state.(OpenedShoppingCart)
		if !ok {
			return nil, ErrCartNotOpened
		}
		if c.ProductItem.UnitPrice.Currency == "" {
			// No currency given: the cart's.
			c.ProductItem.UnitPrice.Currency = opened.Currency
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
	case p.Quantity <= 0 || p.Quantity > MaxQuantity:
		return ErrInvalidQuantity
	case !validUnitPrice(p.UnitPrice.Amount):
		return ErrInvalidUnitPrice
	}
	return nil
}

// validUnitPrice reports whether price is a number from 0 to MaxUnitPrice
// (NaN is not: every comparison with it is false).
func validUnitPrice(price float64) bool { return price >= 0 && price <= MaxUnitPrice }

// validCurrency reports whether code has the form of an ISO 4217 code:
// three capital letters.
func validCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for _, c := range []byte(code) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// canHold tells whether the cart can take p (a valid item) within
// MaxQuantity of its line and MaxProductItems in all, whatever its lines
// hold: no sum wraps around.
func (c OpenedShoppingCart) canHold(p PricedProductItem) error {
	if c.ProductItems[p.Key()] > MaxQuantity-p.Quantity {
		return ErrTooManyOfProduct
	}
	total := p.Quantity
	for _, qty := range c.ProductItems {
		if total = plus(total, qty); total > MaxProductItems {
			return ErrTooManyProducts
		}
	}
	return nil
}

// plus returns a+b, held at math.MaxInt or math.MinInt rather than
// wrapping around: events stored before the bounds, or appended without
// the decider, may hold any quantity, and no sum of them turns negative.
func plus(a, b int) int {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt
	case b < 0 && s > a:
		return math.MinInt
	}
	return s
}

// minus returns a-b, held at math.MaxInt or math.MinInt like plus.
func minus(a, b int) int {
	s := a - b
	switch {
	case b < 0 && s < a:
		return math.MaxInt
	case b > 0 && s > a:
		return math.MinInt
	}
	return s
}

// Evolve applies an event to a cart. It does not change the given state.
func Evolve(state ShoppingCart, event Event) ShoppingCart {
	switch e := event.(type) {
	case ProductItemAddedToShoppingCart:
		items, currency := map[ProductKey]int{}, e.ProductItem.UnitPrice.Currency
		if opened, ok := state.(OpenedShoppingCart); ok {
			items, currency = maps.Clone(opened.ProductItems), opened.Currency
		}
		key := e.ProductItem.Key()
		items[key] = plus(items[key], e.ProductItem.Quantity)
		return OpenedShoppingCart{ClientID: e.ClientID, Currency: currency, ProductItems: items}

	case ProductItemRemovedFromShoppingCart:
		opened, ok := state.(OpenedShoppingCart)
		if !ok {
			return state
		}
		items := maps.Clone(opened.ProductItems)
		key := e.ProductItem.Key()
		if items[key] = minus(items[key], e.ProductItem.Quantity); items[key] <= 0 {
			delete(items, key)
		}
		return OpenedShoppingCart{ClientID: opened.ClientID, Currency: opened.Currency, ProductItems: items}

	case ShoppingCartConfirmed, ShoppingCartCancelled:
		return ClosedShoppingCart{}
	}
	return state
}
