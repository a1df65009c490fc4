package testdomain

import (
	"math"
	"slices"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
)

// CartDetailsName names the cart details projection and its collection.
const CartDetailsName = "cart_details"

// CartDetails is the document of a cart: its status, when it opened and
// closed, and its lines (an item per product and unit price) with their
// count and total.
type CartDetails struct {
	ID       string     `json:"id"`
	Status   Status     `json:"status"`
	OpenedAt time.Time  `json:"openedAt"`
	ClosedAt *time.Time `json:"closedAt,omitempty"`
	ClientID string     `json:"clientId"`
	Lines    []Item     `json:"lines"`
	Count    int        `json:"count"`
	Total    float64    `json:"total"`
}

// CartDetailsProjection keeps the CartDetails of each cart stream.
func CartDetailsProjection() *projection.DocumentProjection[CartDetails, Event] {
	return projection.SingleStream(CartDetailsName, Events(), EvolveCartDetails)
}

// EvolveCartDetails applies an event to a cart's details.
func EvolveCartDetails(doc *CartDetails, e emmett.Recorded[Event]) *CartDetails {
	if doc == nil {
		added, ok := e.Event.(ItemAdded)
		if !ok {
			return nil
		}
		doc = &CartDetails{ID: added.CartID, ClientID: added.ClientID, Lines: []Item{}, Status: Open, OpenedAt: added.At}
	}
	switch ev := e.Event.(type) {
	case ItemAdded:
		doc.change(ev.Item, ev.Item.Quantity)
	case ItemRemoved:
		doc.change(ev.Item, -ev.Item.Quantity)
	case CartConfirmed:
		doc.close(Confirmed, ev.At)
	case CartCancelled:
		doc.close(Cancelled, ev.At)
	}
	return doc
}

// change adds by (negative: removes) to the line of item's product and
// unit price, and to the cart's count and total.
func (d *CartDetails) change(item Item, by int) {
	i := slices.IndexFunc(d.Lines, func(l Item) bool { return l.ProductID == item.ProductID && l.UnitPrice == item.UnitPrice })
	if i < 0 {
		i = len(d.Lines)
		d.Lines = append(d.Lines, Item{ProductID: item.ProductID, UnitPrice: item.UnitPrice})
	}
	if d.Lines[i].Quantity += by; d.Lines[i].Quantity <= 0 {
		d.Lines = slices.Delete(d.Lines, i, i+1)
	}
	d.Count += by
	d.Total = math.Round((d.Total+float64(by)*item.UnitPrice)*100) / 100
}

func (d *CartDetails) close(status Status, at time.Time) {
	d.Status, d.ClosedAt = status, &at
}

// ClientTotalsName names the client totals projection and its
// collection.
const ClientTotalsName = "client_totals"

// ClientTotals counts the items a client added to carts, across them.
type ClientTotals struct {
	ClientID string `json:"clientId"`
	Items    int    `json:"items"`
}

// ClientTotalsProjection keeps the ClientTotals of each client: a
// multi-stream projection of ItemAdded events.
func ClientTotalsProjection() *projection.DocumentProjection[ClientTotals, Event] {
	return projection.MultiStream(ClientTotalsName, emmett.NewEvents[Event](ItemAdded{}),
		func(e emmett.Recorded[Event]) []string { return []string{e.Event.(ItemAdded).ClientID} },
		func(doc *ClientTotals, e emmett.Recorded[Event]) *ClientTotals {
			added := e.Event.(ItemAdded)
			if doc == nil {
				doc = &ClientTotals{ClientID: added.ClientID}
			}
			doc.Items += added.Item.Quantity
			return doc
		})
}
