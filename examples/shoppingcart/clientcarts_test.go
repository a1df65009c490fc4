package shoppingcart_test

import (
	"testing"

	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/testing/spec"
)

func opened(cartID string) sc.ShoppingCartOpened {
	return sc.ShoppingCartOpened{ClientID: "ann", ShoppingCartID: cartID, OpenedAt: now}
}

func open(closed string) sc.OpenShoppingCart {
	return sc.OpenShoppingCart{ClientID: "ann", Closed: closed, Now: now}
}

func TestOpenShoppingCart(t *testing.T) {
	d := sc.ClientCartsDecider()
	t.Run("OpensTheClientsFirstCart", func(t *testing.T) {
		spec.For(t, d).When(open("")).
			Then(opened("ann:1")).
			ThenState(sc.ClientCarts{Opened: 1, Current: "ann:1"})
	})
	t.Run("KeepsTheCurrentCart", func(t *testing.T) {
		// A concurrent request opened it after this one found none: this
		// one adds to it rather than open a second.
		spec.For(t, d).Given(opened("ann:1")).When(open("")).
			ThenNothingHappened()
	})
	t.Run("OpensTheNextCartWhenTheCurrentOneIsClosed", func(t *testing.T) {
		spec.For(t, d).Given(opened("ann:1"), opened("ann:2")).When(open("ann:2")).
			Then(opened("ann:3")).
			ThenState(sc.ClientCarts{Opened: 3, Current: "ann:3"})
	})
	t.Run("KeepsACartOpenedAfterTheClosedOne", func(t *testing.T) {
		// ann:1 was found closed, but a concurrent request has opened ann:2
		// since: it is current.
		spec.For(t, d).Given(opened("ann:1"), opened("ann:2")).When(open("ann:1")).
			ThenNothingHappened()
	})
	t.Run("ClientIDIsRequired", func(t *testing.T) {
		spec.For(t, d).When(sc.OpenShoppingCart{Now: now}).
			ThenError(sc.ErrInvalidClientID)
	})
}
