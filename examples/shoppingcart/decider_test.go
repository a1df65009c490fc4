package shoppingcart_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/require"
)

var (
	now    = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	later  = now.Add(time.Minute)
	cartID = "cart-1"
	shoes  = sc.PricedProductItem{ProductID: "shoes", Quantity: 2, UnitPrice: sc.EUR(100)}
	socks  = sc.PricedProductItem{ProductID: "socks", Quantity: 5, UnitPrice: sc.EUR(3.5)}
	hat    = sc.PricedProductItem{ProductID: "hat", Quantity: 1, UnitPrice: sc.EUR(25)}
)

func added(p sc.PricedProductItem) sc.ProductItemAddedToShoppingCart {
	return sc.ProductItemAddedToShoppingCart{ShoppingCartID: cartID, ClientID: "client-1", ProductItem: p, AddedAt: now}
}

func removed(p sc.PricedProductItem) sc.ProductItemRemovedFromShoppingCart {
	return sc.ProductItemRemovedFromShoppingCart{ShoppingCartID: cartID, ClientID: "client-1", ProductItem: p, RemovedAt: later}
}

var (
	confirmed = sc.ShoppingCartConfirmed{ShoppingCartID: cartID, ClientID: "client-1", ConfirmedAt: later}
	cancelled = sc.ShoppingCartCancelled{ShoppingCartID: cartID, ClientID: "client-1", CancelledAt: later}
)

func add(p sc.PricedProductItem) sc.AddProductItemToShoppingCart {
	return sc.AddProductItemToShoppingCart{ShoppingCartID: cartID, ClientID: "client-1", ProductItem: p, Now: now}
}

func remove(p sc.PricedProductItem) sc.RemoveProductItemFromShoppingCart {
	return sc.RemoveProductItemFromShoppingCart{ShoppingCartID: cartID, ProductItem: p, Now: later}
}

var (
	confirm = sc.ConfirmShoppingCart{ShoppingCartID: cartID, Now: later}
	cancel  = sc.CancelShoppingCart{ShoppingCartID: cartID, Now: later}
)

func with(p sc.PricedProductItem, qty int) sc.PricedProductItem { p.Quantity = qty; return p }

func TestAddProductItem(t *testing.T) {
	d := sc.Decider()
	t.Run("OpensAnEmptyCart", func(t *testing.T) {
		spec.For(t, d).When(add(shoes)).
			Then(added(shoes)).
			ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): 2}})
	})
	t.Run("AddsToAnOpenedCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(add(shoes)).
			Then(added(shoes)).
			ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): 4}})
	})
	t.Run("SameProductAtAnotherPriceIsAnotherLine", func(t *testing.T) {
		cheaper := shoes
		cheaper.UnitPrice.Amount = 80
		spec.For(t, d).Given(added(shoes)).When(add(cheaper)).
			Then(added(cheaper)).
			ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): 2, cheaper.Key(): 2}})
	})
	t.Run("FailsOnAConfirmedCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), confirmed).When(add(socks)).ThenError(sc.ErrCartClosed)
	})
	t.Run("FailsOnACancelledCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), cancelled).When(add(socks)).ThenError(sc.ErrCartClosed)
	})
	t.Run("IsABusinessRuleViolation", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), cancelled).When(add(socks)).ThenError(emmett.ErrIllegalState)
	})
	t.Run("RejectsNonPositiveQuantity", func(t *testing.T) {
		spec.For(t, d).When(add(with(shoes, 0))).ThenError(sc.ErrInvalidQuantity)
		spec.For(t, d).When(add(with(shoes, -1))).ThenError(emmett.ErrValidation)
	})
	t.Run("RejectsNegativePrice", func(t *testing.T) {
		p := shoes
		p.UnitPrice.Amount = -1
		spec.For(t, d).When(add(p)).ThenError(sc.ErrInvalidUnitPrice)
	})
	t.Run("FailsOnAnotherClientsCart", func(t *testing.T) {
		other := add(socks)
		other.ClientID = "client-2"
		spec.For(t, d).Given(added(shoes)).When(other).ThenError(sc.ErrOtherClientsCart)
	})
	t.Run("RejectsMissingClient", func(t *testing.T) {
		noClient := add(socks)
		noClient.ClientID = ""
		spec.For(t, d).When(noClient).ThenError(sc.ErrInvalidClientID)
	})
	t.Run("RejectsMissingProduct", func(t *testing.T) {
		p := shoes
		p.ProductID = ""
		spec.For(t, d).When(add(p)).ThenError(sc.ErrInvalidProductID)
	})
}

func TestRemoveProductItem(t *testing.T) {
	d := sc.Decider()
	t.Run("RemovesPartOfALine", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), added(socks)).When(remove(with(socks, 2))).
			Then(removed(with(socks, 2))).
			ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): 2, socks.Key(): 3}})
	})
	t.Run("RemovesAWholeLine", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), added(socks)).When(remove(socks)).
			Then(removed(socks)).
			ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): 2}})
	})
	t.Run("FailsWhenRemovingMoreThanInTheCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(remove(with(shoes, 3))).ThenError(sc.ErrNotEnoughProducts)
	})
	t.Run("FailsForAProductNotInTheCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(remove(socks)).ThenError(sc.ErrNotEnoughProducts)
	})
	t.Run("FailsForTheProductAtAnotherPrice", func(t *testing.T) {
		p := shoes
		p.UnitPrice.Amount = 80
		spec.For(t, d).Given(added(shoes)).When(remove(p)).ThenError(sc.ErrNotEnoughProducts)
	})
	t.Run("FailsOnAnEmptyCart", func(t *testing.T) {
		spec.For(t, d).When(remove(shoes)).ThenError(sc.ErrCartNotOpened)
	})
	t.Run("FailsOnAClosedCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), confirmed).When(remove(shoes)).ThenError(sc.ErrCartNotOpened)
		spec.For(t, d).Given(added(shoes), cancelled).When(remove(shoes)).ThenError(sc.ErrCartNotOpened)
	})
	t.Run("RejectsNonPositiveQuantity", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(remove(with(shoes, 0))).ThenError(sc.ErrInvalidQuantity)
	})
}

func TestConfirm(t *testing.T) {
	d := sc.Decider()
	t.Run("ConfirmsAnOpenedCartWithItems", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(confirm).
			Then(confirmed).
			ThenState(sc.ClosedShoppingCart{})
	})
	t.Run("FailsOnAnEmptyCart", func(t *testing.T) {
		spec.For(t, d).When(confirm).ThenError(sc.ErrCartNotOpened)
	})
	t.Run("FailsOnAnOpenedCartWhoseItemsWereAllRemoved", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), removed(shoes)).When(confirm).ThenError(sc.ErrCartEmpty)
	})
	t.Run("FailsOnAConfirmedCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), confirmed).When(confirm).ThenError(sc.ErrCartNotOpened)
	})
	t.Run("FailsOnACancelledCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), cancelled).When(confirm).ThenError(sc.ErrCartNotOpened)
	})
}

func TestCancel(t *testing.T) {
	d := sc.Decider()
	t.Run("CancelsAnOpenedCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes)).When(cancel).Then(cancelled).ThenState(sc.ClosedShoppingCart{})
	})
	t.Run("CancelsAnOpenedCartWithNoItemsLeft", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), removed(shoes)).When(cancel).Then(cancelled)
	})
	t.Run("FailsOnAnEmptyCart", func(t *testing.T) {
		spec.For(t, d).When(cancel).ThenError(sc.ErrCartNotOpened)
	})
	t.Run("FailsOnAClosedCart", func(t *testing.T) {
		spec.For(t, d).Given(added(shoes), confirmed).When(cancel).ThenError(sc.ErrCartNotOpened)
		spec.For(t, d).Given(added(shoes), cancelled).When(cancel).ThenError(sc.ErrCartNotOpened)
	})
}

func TestEvolveDoesNotChangeTheGivenState(t *testing.T) {
	before := sc.Decider().Fold(added(shoes))
	_ = sc.Evolve(before, added(shoes))
	_ = sc.Evolve(before, removed(with(shoes, 1)))
	spec.For(t, sc.Decider()).Given(added(shoes)).When(add(socks)).
		ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): 2, socks.Key(): 5}})
	require.Equal(t, 2, before.(sc.OpenedShoppingCart).ProductItems[shoes.Key()], "Evolve changed its input")
}

// TestBounds checks that a cart's quantities and sums stay within
// MaxQuantity, MaxProductItems and MaxUnitPrice, where they cannot
// overflow: once a cart held math.MaxInt shoes, one more made it
// -9223372036854775808.
func TestBounds(t *testing.T) {
	d := sc.Decider()
	t.Run("TakesAQuantityUpToTheMaximum", func(t *testing.T) {
		spec.For(t, d).When(add(with(shoes, sc.MaxQuantity))).Then(added(with(shoes, sc.MaxQuantity)))
		spec.For(t, d).Given(added(with(shoes, sc.MaxQuantity))).When(remove(with(shoes, sc.MaxQuantity))).
			Then(removed(with(shoes, sc.MaxQuantity)))
	})
	t.Run("RejectsAQuantityOverTheMaximum", func(t *testing.T) {
		spec.For(t, d).When(add(with(shoes, sc.MaxQuantity+1))).ThenError(sc.ErrInvalidQuantity)
		spec.For(t, d).When(add(with(shoes, math.MaxInt))).ThenError(emmett.ErrValidation)
		spec.For(t, d).Given(added(shoes)).When(remove(with(shoes, math.MaxInt))).ThenError(sc.ErrInvalidQuantity)
	})
	t.Run("RejectsALineOverTheMaximum", func(t *testing.T) {
		spec.For(t, d).Given(added(with(shoes, sc.MaxQuantity-1))).When(add(with(shoes, 2))).ThenError(sc.ErrTooManyOfProduct)
		spec.For(t, d).Given(added(with(shoes, sc.MaxQuantity))).When(add(with(shoes, 1))).ThenError(emmett.ErrValidation)
		cheaper := with(shoes, 1)
		cheaper.UnitPrice.Amount = 80
		spec.For(t, d).Given(added(with(shoes, sc.MaxQuantity))).When(add(cheaper)).Then(added(cheaper))
	})
	t.Run("RejectsACartOverTheMaximum", func(t *testing.T) {
		var full []sc.Event
		for i := range sc.MaxProductItems / sc.MaxQuantity {
			full = append(full, added(sc.PricedProductItem{ProductID: fmt.Sprint("product-", i), Quantity: sc.MaxQuantity, UnitPrice: sc.EUR(1)}))
		}
		spec.For(t, d).Given(full...).When(add(with(socks, 1))).ThenError(sc.ErrTooManyProducts)
		spec.For(t, d).Given(full[1:]...).When(add(with(socks, sc.MaxQuantity))).Then(added(with(socks, sc.MaxQuantity)))
		almost := append(full[1:], added(with(socks, sc.MaxQuantity-1)))
		spec.For(t, d).Given(almost...).When(add(with(hat, 1))).Then(added(with(hat, 1)))
		spec.For(t, d).Given(almost...).When(add(with(hat, 2))).ThenError(sc.ErrTooManyProducts)
	})
	t.Run("ACartBeyondTheBoundsTakesNoMore", func(t *testing.T) {
		// Events stored before the bounds, or appended without the
		// decider, may hold any quantity: the state holds at math.MaxInt
		// rather than wrapping around, and takes nothing more.
		huge := added(with(shoes, math.MaxInt))
		spec.For(t, d).Given(huge).When(add(with(shoes, 1))).ThenError(sc.ErrTooManyOfProduct)
		spec.For(t, d).Given(huge).When(add(with(socks, 1))).ThenError(sc.ErrTooManyProducts)
		spec.For(t, d).Given(huge, added(with(shoes, 1))).When(remove(with(shoes, 1))).
			Then(removed(with(shoes, 1))).
			ThenState(sc.OpenedShoppingCart{ClientID: "client-1", Currency: "EUR", ProductItems: map[sc.ProductKey]int{shoes.Key(): math.MaxInt - 1}})
	})
	t.Run("RejectsPricesThatAreNotNumbersOrOverTheMaximum", func(t *testing.T) {
		for _, price := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), sc.MaxUnitPrice + 0.01, -0.01} {
			p := with(shoes, 1)
			p.UnitPrice.Amount = price
			spec.For(t, d).When(add(p)).ThenError(sc.ErrInvalidUnitPrice)
			spec.For(t, d).Given(added(shoes)).When(remove(p)).ThenError(sc.ErrInvalidUnitPrice)
		}
		p := with(shoes, 1)
		p.UnitPrice.Amount = sc.MaxUnitPrice
		spec.For(t, d).When(add(p)).Then(added(p))
	})
}
