package shoppingcart_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/spec"
)

const (
	cart1 = "shopping_cart-c1"
	cart2 = "shopping_cart-c2"
	cart3 = "shopping_cart-c3"
)

func addedTo(cart, client string, p sc.PricedProductItem) sc.Event {
	return sc.ProductItemAddedToShoppingCart{ShoppingCartID: cart, ClientID: client, ProductItem: p, AddedAt: now}
}

func removedFrom(cart, client string, p sc.PricedProductItem) sc.Event {
	return sc.ProductItemRemovedFromShoppingCart{ShoppingCartID: cart, ClientID: client, ProductItem: p, RemovedAt: later}
}

func confirmedCart(cart, client string) sc.Event {
	return sc.ShoppingCartConfirmed{ShoppingCartID: cart, ClientID: client, ConfirmedAt: later}
}

func cancelledCart(cart, client string) sc.Event {
	return sc.ShoppingCartCancelled{ShoppingCartID: cart, ClientID: client, CancelledAt: later}
}

func TestCartDetails(t *testing.T) {
	details := sc.CartDetailsProjection()
	events := sc.Events()
	cheapShoes := with(shoes, 1)
	cheapShoes.UnitPrice.Amount = 80

	t.Run("MergesItemsByProductAndPrice", func(t *testing.T) {
		spec.ForDocuments(t, details, events).
			Given(cart1, addedTo(cart1, "ann", shoes), addedTo(cart1, "ann", socks), addedTo(cart1, "ann", with(shoes, 1)), addedTo(cart1, "ann", cheapShoes)).
			ThenDocument(cart1, sc.ShoppingCartDetails{
				ID: cart1, ClientID: "ann", Status: sc.StatusOpened, OpenedAt: now, Currency: "EUR",
				ProductItems:      []sc.PricedProductItem{with(shoes, 3), socks, cheapShoes},
				ProductItemsCount: 9, TotalAmount: 300 + 17.5 + 80,
			})
	})
	t.Run("RemovesQuantitiesAndEmptyLines", func(t *testing.T) {
		spec.ForDocuments(t, details, events).
			Given(cart1, addedTo(cart1, "ann", shoes), addedTo(cart1, "ann", socks), removedFrom(cart1, "ann", with(socks, 2)), removedFrom(cart1, "ann", shoes)).
			ThenDocument(cart1, sc.ShoppingCartDetails{
				ID: cart1, ClientID: "ann", Status: sc.StatusOpened, OpenedAt: now, Currency: "EUR",
				ProductItems: []sc.PricedProductItem{with(socks, 3)}, ProductItemsCount: 3, TotalAmount: 10.5,
			})
	})
	t.Run("Confirmed", func(t *testing.T) {
		at := later
		spec.ForDocuments(t, details, events).
			Given(cart1, addedTo(cart1, "ann", shoes), confirmedCart(cart1, "ann")).
			ThenDocument(cart1, sc.ShoppingCartDetails{
				ID: cart1, ClientID: "ann", Status: sc.StatusConfirmed, OpenedAt: now, Currency: "EUR", ConfirmedAt: &at,
				ProductItems: []sc.PricedProductItem{shoes}, ProductItemsCount: 2, TotalAmount: 200,
			})
	})
	t.Run("Cancelled", func(t *testing.T) {
		at := later
		spec.ForDocuments(t, details, events).
			Given(cart1, addedTo(cart1, "ann", socks), cancelledCart(cart1, "ann")).
			ThenDocument(cart1, sc.ShoppingCartDetails{
				ID: cart1, ClientID: "ann", Status: sc.StatusCancelled, OpenedAt: now, Currency: "EUR", CancelledAt: &at,
				ProductItems: []sc.PricedProductItem{socks}, ProductItemsCount: 5, TotalAmount: 17.5,
			})
	})
	t.Run("OneDocumentPerCart", func(t *testing.T) {
		spec.ForDocuments(t, details, events).
			Given(cart1, addedTo(cart1, "ann", shoes)).
			Given(cart2, addedTo(cart2, "bob", socks)).
			Given(cart1, confirmedCart(cart1, "ann")).
			Then(map[string]sc.ShoppingCartDetails{
				cart1: {ID: cart1, ClientID: "ann", Status: sc.StatusConfirmed, OpenedAt: now, Currency: "EUR", ConfirmedAt: &later,
					ProductItems: []sc.PricedProductItem{shoes}, ProductItemsCount: 2, TotalAmount: 200},
				cart2: {ID: cart2, ClientID: "bob", Status: sc.StatusOpened, OpenedAt: now, Currency: "EUR",
					ProductItems: []sc.PricedProductItem{socks}, ProductItemsCount: 5, TotalAmount: 17.5},
			})
	})
}

func TestCartShortInfo(t *testing.T) {
	short := sc.CartShortInfoProjection()
	events := sc.Events()
	t.Run("CountsAndTotals", func(t *testing.T) {
		spec.ForDocuments(t, short, events).
			Given(cart1, addedTo(cart1, "ann", shoes), addedTo(cart1, "ann", socks), removedFrom(cart1, "ann", with(socks, 1))).
			Then(map[string]sc.ShoppingCartShortInfo{
				cart1: {ID: cart1, ClientID: "ann", ProductItemsCount: 6, TotalAmount: 214},
			})
	})
	t.Run("DeletedWhenConfirmed", func(t *testing.T) {
		spec.ForDocuments(t, short, events).
			Given(cart1, addedTo(cart1, "ann", shoes), confirmedCart(cart1, "ann")).
			ThenNoDocument(cart1)
	})
	t.Run("DeletedWhenCancelled", func(t *testing.T) {
		spec.ForDocuments(t, short, events).
			Given(cart1, addedTo(cart1, "ann", shoes)).
			Given(cart2, addedTo(cart2, "ann", socks)).
			Given(cart1, cancelledCart(cart1, "ann")).
			Then(map[string]sc.ShoppingCartShortInfo{
				cart2: {ID: cart2, ClientID: "ann", ProductItemsCount: 5, TotalAmount: 17.5},
			})
	})
}

// TestClientSummary runs both versions of the client summary: version 2
// keeps version 1's totals and adds when the client was last active.
func TestClientSummary(t *testing.T) {
	for _, summary := range []*projection.DocumentProjection[sc.ClientShoppingSummary, sc.Event]{
		sc.ClientSummaryProjectionV1(), sc.ClientSummaryProjection(),
	} {
		t.Run(fmt.Sprintf("V%d", summary.Version()), func(t *testing.T) { testClientSummary(t, summary) })
	}
}

func testClientSummary(t *testing.T, summary *projection.DocumentProjection[sc.ClientShoppingSummary, sc.Event]) {
	events := sc.Events()
	// at is d as the summary's version has it, last active at when.
	at := func(when time.Time, d sc.ClientShoppingSummary) sc.ClientShoppingSummary {
		if summary.Version() >= 2 {
			d.LastActivity = &when
		}
		return d
	}
	t.Run("PendingCarts", func(t *testing.T) {
		spec.ForDocuments(t, summary, events).
			Given(cart1, addedTo(cart1, "ann", shoes), removedFrom(cart1, "ann", with(shoes, 1))).
			Given(cart2, addedTo(cart2, "ann", socks)).
			ThenDocument("ann", at(later, sc.ClientShoppingSummary{
				ClientID: "ann",
				Pending:  sc.CartsSummary{CartsCount: 2, ProductItemsCount: 6, TotalAmount: 117.5},
				PendingCarts: map[string]sc.CartsSummary{
					cart1: {ProductItemsCount: 1, TotalAmount: 100},
					cart2: {ProductItemsCount: 5, TotalAmount: 17.5},
				},
			}))
	})
	t.Run("ConfirmedAndCancelledAcrossCarts", func(t *testing.T) {
		spec.ForDocuments(t, summary, events).
			Given(cart1, addedTo(cart1, "ann", shoes)).
			Given(cart2, addedTo(cart2, "ann", socks)).
			Given(cart3, addedTo(cart3, "ann", with(socks, 1))).
			Given(cart1, confirmedCart(cart1, "ann")).
			Given(cart2, cancelledCart(cart2, "ann")).
			ThenDocument("ann", at(later, sc.ClientShoppingSummary{
				ClientID:     "ann",
				Pending:      sc.CartsSummary{CartsCount: 1, ProductItemsCount: 1, TotalAmount: 3.5},
				Confirmed:    sc.CartsSummary{CartsCount: 1, ProductItemsCount: 2, TotalAmount: 200},
				Cancelled:    sc.CartsSummary{CartsCount: 1, ProductItemsCount: 5, TotalAmount: 17.5},
				PendingCarts: map[string]sc.CartsSummary{cart3: {ProductItemsCount: 1, TotalAmount: 3.5}},
			}))
	})
	t.Run("OnePerClient", func(t *testing.T) {
		spec.ForDocuments(t, summary, events).
			Given(cart1, addedTo(cart1, "ann", shoes), confirmedCart(cart1, "ann")).
			Given(cart2, addedTo(cart2, "bob", socks)).
			Then(map[string]sc.ClientShoppingSummary{
				"ann": at(later, sc.ClientShoppingSummary{ClientID: "ann", Confirmed: sc.CartsSummary{CartsCount: 1, ProductItemsCount: 2, TotalAmount: 200}}),
				"bob": at(now, sc.ClientShoppingSummary{ClientID: "bob", Pending: sc.CartsSummary{CartsCount: 1, ProductItemsCount: 5, TotalAmount: 17.5},
					PendingCarts: map[string]sc.CartsSummary{cart2: {ProductItemsCount: 5, TotalAmount: 17.5}}}),
			})
	})
	t.Run("AmountsDoNotDrift", func(t *testing.T) {
		dime := sc.PricedProductItem{ProductID: "dime", Quantity: 1, UnitPrice: sc.EUR(0.1)}
		fifth := sc.PricedProductItem{ProductID: "fifth", Quantity: 1, UnitPrice: sc.EUR(0.2)}
		spec.ForDocuments(t, summary, events).
			Given(cart1, addedTo(cart1, "ann", dime), addedTo(cart1, "ann", fifth), removedFrom(cart1, "ann", dime)).
			ThenDocument("ann", at(later, sc.ClientShoppingSummary{
				ClientID:     "ann",
				Pending:      sc.CartsSummary{CartsCount: 1, ProductItemsCount: 1, TotalAmount: 0.2},
				PendingCarts: map[string]sc.CartsSummary{cart1: {ProductItemsCount: 1, TotalAmount: 0.2}},
			}))
	})
}

// TestReadModelSumsDoNotOverflow gives the read models events beyond the
// decider's bounds (stored before them, or appended without the decider):
// their counts hold at math.MaxInt instead of turning negative, and their
// amounts at math.MaxFloat64 instead of becoming infinite, which JSON
// cannot hold.
func TestReadModelSumsDoNotOverflow(t *testing.T) {
	events := sc.Events()
	gifts := sc.PricedProductItem{ProductID: "gift", Quantity: math.MaxInt, UnitPrice: sc.EUR(0)}
	gift := with(gifts, 1)
	gold := sc.PricedProductItem{ProductID: "gold", Quantity: 2, UnitPrice: sc.EUR(1e308)}

	t.Run("CartDetails", func(t *testing.T) {
		spec.ForDocuments(t, sc.CartDetailsProjection(), events).
			Given(cart1, addedTo(cart1, "ann", gifts), addedTo(cart1, "ann", gift)).
			ThenDocument(cart1, sc.ShoppingCartDetails{
				ID: cart1, ClientID: "ann", Status: sc.StatusOpened, OpenedAt: now, Currency: "EUR",
				ProductItems: []sc.PricedProductItem{gifts}, ProductItemsCount: math.MaxInt,
			})
		spec.ForDocuments(t, sc.CartDetailsProjection(), events).
			Given(cart1, addedTo(cart1, "ann", gold), addedTo(cart1, "ann", gold), removedFrom(cart1, "ann", with(gold, 1))).
			ThenDocument(cart1, sc.ShoppingCartDetails{
				ID: cart1, ClientID: "ann", Status: sc.StatusOpened, OpenedAt: now, Currency: "EUR",
				ProductItems: []sc.PricedProductItem{with(gold, 3)}, ProductItemsCount: 3, TotalAmount: math.MaxFloat64 - 1e308,
			})
	})
	t.Run("CartShortInfo", func(t *testing.T) {
		spec.ForDocuments(t, sc.CartShortInfoProjection(), events).
			Given(cart1, addedTo(cart1, "ann", gifts), addedTo(cart1, "ann", gift), addedTo(cart1, "ann", gold)).
			ThenDocument(cart1, sc.ShoppingCartShortInfo{ID: cart1, ClientID: "ann", ProductItemsCount: math.MaxInt, TotalAmount: math.MaxFloat64})
	})
	t.Run("ClientSummary", func(t *testing.T) {
		spec.ForDocuments(t, sc.ClientSummaryProjectionV1(), events).
			Given(cart1, addedTo(cart1, "ann", gifts), addedTo(cart1, "ann", gold)).
			Given(cart2, addedTo(cart2, "ann", gift), addedTo(cart2, "ann", gold)).
			Given(cart1, confirmedCart(cart1, "ann")).
			ThenDocument("ann", sc.ClientShoppingSummary{
				ClientID:     "ann",
				Pending:      sc.CartsSummary{CartsCount: 1, ProductItemsCount: 0, TotalAmount: 0},
				Confirmed:    sc.CartsSummary{CartsCount: 1, ProductItemsCount: math.MaxInt, TotalAmount: math.MaxFloat64},
				PendingCarts: map[string]sc.CartsSummary{cart2: {ProductItemsCount: 3, TotalAmount: math.MaxFloat64}},
			})
	})
}
