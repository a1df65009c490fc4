package shoppingcart

import (
	"math"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
)

// Cart statuses in the read models.
const (
	StatusOpened    = "Opened"
	StatusConfirmed = "Confirmed"
	StatusCancelled = "Cancelled"
)

// ShoppingCartDetails is the full view of one cart.
type ShoppingCartDetails struct {
	// ID is the cart's id.
	ID string `json:"id"`
	// ClientID is the client the cart belongs to.
	ClientID string `json:"clientId"`
	// ProductItems are the cart's lines, one per product and unit price.
	ProductItems []PricedProductItem `json:"productItems"`
	// ProductItemsCount is the sum of the lines' quantities.
	ProductItemsCount int `json:"productItemsCount"`
	// TotalAmount is the sum of the lines' prices, rounded to cents.
	TotalAmount float64 `json:"totalAmount"`
	// Currency is the currency of the prices and of TotalAmount.
	Currency string `json:"currency"`
	// Status is StatusOpened, StatusConfirmed or StatusCancelled.
	Status string `json:"status"`
	// OpenedAt is when the first item was added.
	OpenedAt time.Time `json:"openedAt"`
	// ConfirmedAt is when the cart was confirmed, if it was.
	ConfirmedAt *time.Time `json:"confirmedAt,omitempty"`
	// CancelledAt is when the cart was cancelled, if it was.
	CancelledAt *time.Time `json:"cancelledAt,omitempty"`
}

// ShoppingCartShortInfo is the summary of an open cart; it is deleted when
// the cart is confirmed or cancelled.
type ShoppingCartShortInfo struct {
	// ID is the cart's id.
	ID string `json:"id"`
	// ClientID is the client the cart belongs to.
	ClientID string `json:"clientId"`
	// ProductItemsCount is the number of product items in the cart.
	ProductItemsCount int `json:"productItemsCount"`
	// TotalAmount is their total price.
	TotalAmount float64 `json:"totalAmount"`
}

// ClientShoppingSummary gathers a client's carts by status.
type ClientShoppingSummary struct {
	// ClientID is the client's id (and the document's).
	ClientID string `json:"clientId"`
	// Pending sums the client's open carts.
	Pending CartsSummary `json:"pending"`
	// Confirmed sums the client's confirmed carts.
	Confirmed CartsSummary `json:"confirmed"`
	// Cancelled sums the client's cancelled carts.
	Cancelled CartsSummary `json:"cancelled"`
	// PendingCarts holds the totals of each open cart, to move them to
	// confirmed or cancelled when the cart closes.
	PendingCarts map[string]CartsSummary `json:"pendingCarts,omitempty"`
	// LastActivity is when the client last added, removed, confirmed or
	// cancelled (the latest time its events carry). New in version 2 of
	// the projection: documents of version 1 have none.
	LastActivity *time.Time `json:"lastActivity,omitempty"`
}

// CartsSummary counts carts, their product items and their total amount.
type CartsSummary struct {
	// CartsCount is the number of carts.
	CartsCount int `json:"cartsCount"`
	// ProductItemsCount is the number of product items in them.
	ProductItemsCount int `json:"productItemsCount"`
	// TotalAmount is their total price, rounded to cents.
	TotalAmount float64 `json:"totalAmount"`
}

// Projection and collection names.
const (
	CartDetailsName   = "shopping_cart_details"
	CartShortInfoName = "shopping_cart_short_info"
	ClientSummaryName = "client_shopping_summary"
)

// The read models' sums hold whatever events they are given, those stored
// before the decider's bounds or appended without it included: counts are
// held at the limits of int (see plus and minus) and amounts at those of
// float64 (see addAmount), rather than wrapping around or becoming
// infinite, which JSON cannot hold.

// cents rounds an amount to cents, so that sums of prices do not drift;
// an amount too large for cents to mean anything is left as it is.
func cents(v float64) float64 {
	if r := math.Round(v*100) / 100; !math.IsInf(r, 0) {
		return r
	}
	return v
}

// addAmount returns a+b rounded to cents and held within ±math.MaxFloat64;
// a b that is not a number is not added.
func addAmount(a, b float64) float64 {
	if math.IsNaN(b) {
		return a
	}
	return cents(finite(a + b))
}

// totalPrice is p.TotalPrice held within ±math.MaxFloat64.
func totalPrice(p PricedProductItem) float64 { return finite(p.TotalPrice()) }

// finite holds an infinite v at ±math.MaxFloat64.
func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.Copysign(math.MaxFloat64, v)
	}
	return v
}

func (s *CartsSummary) add(items int, amount float64) {
	s.ProductItemsCount = plus(s.ProductItemsCount, items)
	s.TotalAmount = addAmount(s.TotalAmount, amount)
}

func (s *CartsSummary) remove(items int, amount float64) {
	s.ProductItemsCount = minus(s.ProductItemsCount, items)
	s.TotalAmount = addAmount(s.TotalAmount, -amount)
}

// CartDetailsProjection keeps a ShoppingCartDetails per cart stream, with
// product items merged by product and unit price.
func CartDetailsProjection() *projection.DocumentProjection[ShoppingCartDetails, Event] {
	return projection.SingleStream(CartDetailsName, Events(), EvolveCartDetails)
}

// EvolveCartDetails applies an event to a cart's details.
func EvolveCartDetails(doc *ShoppingCartDetails, e emmett.Recorded[Event]) *ShoppingCartDetails {
	switch ev := e.Event.(type) {
	case ProductItemAddedToShoppingCart:
		if doc == nil {
			doc = &ShoppingCartDetails{ID: ev.ShoppingCartID, ClientID: ev.ClientID, Status: StatusOpened, OpenedAt: ev.AddedAt,
				Currency: ev.ProductItem.UnitPrice.Currency, ProductItems: []PricedProductItem{}}
		}
		merged := false
		for i, line := range doc.ProductItems {
			if line.Key() == ev.ProductItem.Key() {
				doc.ProductItems[i].Quantity = plus(line.Quantity, ev.ProductItem.Quantity)
				merged = true
				break
			}
		}
		if !merged {
			doc.ProductItems = append(doc.ProductItems, ev.ProductItem)
		}
		doc.ProductItemsCount = plus(doc.ProductItemsCount, ev.ProductItem.Quantity)
		doc.TotalAmount = addAmount(doc.TotalAmount, totalPrice(ev.ProductItem))
	case ProductItemRemovedFromShoppingCart:
		if doc == nil {
			return nil
		}
		for i, line := range doc.ProductItems {
			if line.Key() == ev.ProductItem.Key() {
				doc.ProductItems[i].Quantity = minus(line.Quantity, ev.ProductItem.Quantity)
				if doc.ProductItems[i].Quantity <= 0 {
					doc.ProductItems = append(doc.ProductItems[:i], doc.ProductItems[i+1:]...)
				}
				break
			}
		}
		doc.ProductItemsCount = minus(doc.ProductItemsCount, ev.ProductItem.Quantity)
		doc.TotalAmount = addAmount(doc.TotalAmount, -totalPrice(ev.ProductItem))
	case ShoppingCartConfirmed:
		if doc == nil {
			return nil
		}
		at := ev.ConfirmedAt
		doc.Status, doc.ConfirmedAt = StatusConfirmed, &at
	case ShoppingCartCancelled:
		if doc == nil {
			return nil
		}
		at := ev.CancelledAt
		doc.Status, doc.CancelledAt = StatusCancelled, &at
	}
	return doc
}

// CartShortInfoProjection keeps a ShoppingCartShortInfo per open cart.
func CartShortInfoProjection() *projection.DocumentProjection[ShoppingCartShortInfo, Event] {
	return projection.SingleStream(CartShortInfoName, Events(), EvolveCartShortInfo)
}

// EvolveCartShortInfo applies an event to a cart's short info.
func EvolveCartShortInfo(doc *ShoppingCartShortInfo, e emmett.Recorded[Event]) *ShoppingCartShortInfo {
	switch ev := e.Event.(type) {
	case ProductItemAddedToShoppingCart:
		if doc == nil {
			doc = &ShoppingCartShortInfo{ID: ev.ShoppingCartID, ClientID: ev.ClientID}
		}
		doc.ProductItemsCount = plus(doc.ProductItemsCount, ev.ProductItem.Quantity)
		doc.TotalAmount = addAmount(doc.TotalAmount, totalPrice(ev.ProductItem))
	case ProductItemRemovedFromShoppingCart:
		if doc == nil {
			return nil
		}
		doc.ProductItemsCount = minus(doc.ProductItemsCount, ev.ProductItem.Quantity)
		doc.TotalAmount = addAmount(doc.TotalAmount, -totalPrice(ev.ProductItem))
	case ShoppingCartConfirmed, ShoppingCartCancelled:
		return nil
	}
	return doc
}

// ClientSummaryVersion is the version of the client summary projection
// that ClientSummaryProjection returns.
const ClientSummaryVersion = 2

// ClientSummaryProjection keeps a ClientShoppingSummary per client, across
// the client's carts: version 2, which added LastActivity.
//
// A new version of a read model is built beside the one that serves reads,
// from the whole log, into a collection of its own
// (client_shopping_summary_v2): run its processor and the previous
// version's (ClientSummaryProjectionV1) side by side, and readers (the
// projection's Collection, whichever version's) switch to version 2 the
// moment it has caught up. The previous version's processor then idles,
// and a later release drops version 1 (emmett projections -drop-version 1
// client_shopping_summary) and stops running it.
func ClientSummaryProjection() *projection.DocumentProjection[ClientShoppingSummary, Event] {
	return projection.MultiStream(ClientSummaryName, Events(), clientIDs, EvolveClientSummary,
		projection.WithVersion(ClientSummaryVersion))
}

// ClientSummaryProjectionV1 is version 1 of the client summary, without
// LastActivity: the release before ran it, and this one runs it beside
// version 2 until version 2 serves reads.
func ClientSummaryProjectionV1() *projection.DocumentProjection[ClientShoppingSummary, Event] {
	return projection.MultiStream(ClientSummaryName, Events(), clientIDs, evolveClientSummaryV1)
}

func clientIDs(e emmett.Recorded[Event]) []string { return []string{clientOf(e.Event)} }

func clientOf(e Event) string {
	switch ev := e.(type) {
	case ProductItemAddedToShoppingCart:
		return ev.ClientID
	case ProductItemRemovedFromShoppingCart:
		return ev.ClientID
	case ShoppingCartConfirmed:
		return ev.ClientID
	case ShoppingCartCancelled:
		return ev.ClientID
	}
	return ""
}

// EvolveClientSummary applies an event to a client's summary (version 2:
// version 1's totals, and the time of the client's last activity).
func EvolveClientSummary(doc *ClientShoppingSummary, e emmett.Recorded[Event]) *ClientShoppingSummary {
	doc = evolveClientSummaryV1(doc, e)
	if at := activityAt(e.Event); doc.LastActivity == nil || at.After(*doc.LastActivity) {
		doc.LastActivity = &at
	}
	return doc
}

// activityAt is when a client's activity that e records happened.
func activityAt(e Event) time.Time {
	switch ev := e.(type) {
	case ProductItemAddedToShoppingCart:
		return ev.AddedAt
	case ProductItemRemovedFromShoppingCart:
		return ev.RemovedAt
	case ShoppingCartConfirmed:
		return ev.ConfirmedAt
	case ShoppingCartCancelled:
		return ev.CancelledAt
	}
	return time.Time{}
}

// evolveClientSummaryV1 applies an event to a client's summary's totals.
func evolveClientSummaryV1(doc *ClientShoppingSummary, e emmett.Recorded[Event]) *ClientShoppingSummary {
	if doc == nil {
		doc = &ClientShoppingSummary{ClientID: clientOf(e.Event)}
	}
	if doc.PendingCarts == nil {
		doc.PendingCarts = map[string]CartsSummary{}
	}
	switch ev := e.Event.(type) {
	case ProductItemAddedToShoppingCart:
		cart, open := doc.PendingCarts[ev.ShoppingCartID]
		if !open {
			doc.Pending.CartsCount++
		}
		cart.add(ev.ProductItem.Quantity, totalPrice(ev.ProductItem))
		doc.PendingCarts[ev.ShoppingCartID] = cart
		doc.Pending.add(ev.ProductItem.Quantity, totalPrice(ev.ProductItem))
	case ProductItemRemovedFromShoppingCart:
		cart, open := doc.PendingCarts[ev.ShoppingCartID]
		if !open {
			return doc
		}
		cart.remove(ev.ProductItem.Quantity, totalPrice(ev.ProductItem))
		doc.PendingCarts[ev.ShoppingCartID] = cart
		doc.Pending.remove(ev.ProductItem.Quantity, totalPrice(ev.ProductItem))
	case ShoppingCartConfirmed:
		doc.close(ev.ShoppingCartID, &doc.Confirmed)
	case ShoppingCartCancelled:
		doc.close(ev.ShoppingCartID, &doc.Cancelled)
	}
	if len(doc.PendingCarts) == 0 {
		doc.PendingCarts = nil
	}
	return doc
}

// close moves an open cart's totals from pending to the given summary.
func (doc *ClientShoppingSummary) close(cartID string, to *CartsSummary) {
	cart, open := doc.PendingCarts[cartID]
	if !open {
		return
	}
	delete(doc.PendingCarts, cartID)
	doc.Pending.CartsCount--
	doc.Pending.remove(cart.ProductItemsCount, cart.TotalAmount)
	to.CartsCount++
	to.add(cart.ProductItemsCount, cart.TotalAmount)
}
