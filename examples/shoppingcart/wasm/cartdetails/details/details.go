// Package details is the logic of the cartdetails module
// (examples/shoppingcart/wasm/cartdetails): the shopping cart's details
// read model (shoppingcart.CartDetailsProjection) over the events' JSON,
// as a module in another language would see them, rather than over package
// shoppingcart's types (which a guest could import: it is ordinary Go).
//
// Its types read and write their JSON with the guest SDK's Decoder and
// Encoder (guest.Decodable, guest.Encodable) rather than with
// encoding/json, whose reflection is slow in WebAssembly; they write what
// encoding/json writes for the Go projection's types, so that the module
// keeps the same documents, byte for byte. The module and the benchmark's
// native baseline run this package alike.
package details

import (
	"fmt"
	"math"
	"time"

	"github.com/emmett-go/emmett/projection/wasm/guest"
)

// EventTypes are the events the read model handles.
var EventTypes = []string{
	"ProductItemAddedToShoppingCart",
	"ProductItemRemovedFromShoppingCart",
	"ShoppingCartConfirmed",
	"ShoppingCartCancelled",
}

// Cart statuses.
const (
	StatusOpened    = "Opened"
	StatusConfirmed = "Confirmed"
	StatusCancelled = "Cancelled"
)

// DefaultCurrency is the currency of the bare prices of version 1 events.
const DefaultCurrency = "EUR"

// Money is an amount in a currency.
type Money struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
}

// DecodeJSON implements guest.Decodable.
func (m *Money) DecodeJSON(d *guest.Decoder) {
	for key := range d.Object() {
		switch string(key) {
		case "amount":
			m.Amount = d.Float64()
		case "currency":
			m.Currency = d.String()
		default:
			d.Skip()
		}
	}
}

// EncodeJSON implements guest.Encodable.
func (m Money) EncodeJSON(e *guest.Encoder) {
	e.BeginObject()
	e.Key("amount")
	e.Float64(m.Amount)
	e.Key("currency")
	e.String(m.Currency)
	e.EndObject()
}

// PricedProductItem is a quantity of a product at a unit price.
type PricedProductItem struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
	UnitPrice Money  `json:"unitPrice"`
}

// DecodeJSON implements guest.Decodable: version 2's item, whose unit
// price is a Money.
func (p *PricedProductItem) DecodeJSON(d *guest.Decoder) { p.decode(d, false) }

// decode reads an item; bare, version 1's, whose unit price is a number in
// DefaultCurrency.
func (p *PricedProductItem) decode(d *guest.Decoder, bare bool) {
	for key := range d.Object() {
		switch string(key) {
		case "productId":
			p.ProductID = d.String()
		case "quantity":
			p.Quantity = d.Int()
		case "unitPrice":
			if bare {
				p.UnitPrice = Money{Amount: d.Float64(), Currency: DefaultCurrency}
			} else {
				p.UnitPrice.DecodeJSON(d)
			}
		default:
			d.Skip()
		}
	}
}

// EncodeJSON implements guest.Encodable.
func (p PricedProductItem) EncodeJSON(e *guest.Encoder) {
	e.BeginObject()
	e.Key("productId")
	e.String(p.ProductID)
	e.Key("quantity")
	e.Int(p.Quantity)
	e.Key("unitPrice")
	p.UnitPrice.EncodeJSON(e)
	e.EndObject()
}

func (p PricedProductItem) sameLine(q PricedProductItem) bool {
	return p.ProductID == q.ProductID && p.UnitPrice == q.UnitPrice
}

func (p PricedProductItem) totalPrice() float64 { return float64(p.Quantity) * p.UnitPrice.Amount }

// ShoppingCartDetails is the document: the full view of one cart.
type ShoppingCartDetails struct {
	ID                string              `json:"id"`
	ClientID          string              `json:"clientId"`
	ProductItems      []PricedProductItem `json:"productItems"`
	ProductItemsCount int                 `json:"productItemsCount"`
	TotalAmount       float64             `json:"totalAmount"`
	Currency          string              `json:"currency"`
	Status            string              `json:"status"`
	OpenedAt          time.Time           `json:"openedAt"`
	ConfirmedAt       *time.Time          `json:"confirmedAt,omitempty"`
	CancelledAt       *time.Time          `json:"cancelledAt,omitempty"`
}

// DecodeJSON implements guest.Decodable.
func (doc *ShoppingCartDetails) DecodeJSON(d *guest.Decoder) {
	for key := range d.Object() {
		switch string(key) {
		case "id":
			doc.ID = d.String()
		case "clientId":
			doc.ClientID = d.String()
		case "productItems":
			if d.Null() {
				doc.ProductItems = nil
				continue
			}
			doc.ProductItems = doc.ProductItems[:0:0]
			for range d.Array() {
				var item PricedProductItem
				item.DecodeJSON(d)
				doc.ProductItems = append(doc.ProductItems, item)
			}
			if doc.ProductItems == nil {
				doc.ProductItems = []PricedProductItem{}
			}
		case "productItemsCount":
			doc.ProductItemsCount = d.Int()
		case "totalAmount":
			doc.TotalAmount = d.Float64()
		case "currency":
			doc.Currency = d.String()
		case "status":
			doc.Status = d.String()
		case "openedAt":
			doc.OpenedAt = d.Time()
		case "confirmedAt":
			doc.ConfirmedAt = timePointer(d)
		case "cancelledAt":
			doc.CancelledAt = timePointer(d)
		default:
			d.Skip()
		}
	}
}

func timePointer(d *guest.Decoder) *time.Time {
	if d.Null() {
		return nil
	}
	t := d.Time()
	return &t
}

// EncodeJSON implements guest.Encodable: what encoding/json writes for
// the Go projection's document, field for field.
func (doc *ShoppingCartDetails) EncodeJSON(e *guest.Encoder) {
	e.BeginObject()
	e.Key("id")
	e.String(doc.ID)
	e.Key("clientId")
	e.String(doc.ClientID)
	e.Key("productItems")
	if doc.ProductItems == nil {
		e.Null()
	} else {
		e.BeginArray()
		for _, item := range doc.ProductItems {
			item.EncodeJSON(e)
		}
		e.EndArray()
	}
	e.Key("productItemsCount")
	e.Int(doc.ProductItemsCount)
	e.Key("totalAmount")
	e.Float64(doc.TotalAmount)
	e.Key("currency")
	e.String(doc.Currency)
	e.Key("status")
	e.String(doc.Status)
	e.Key("openedAt")
	e.Time(doc.OpenedAt)
	if doc.ConfirmedAt != nil {
		e.Key("confirmedAt")
		e.Time(*doc.ConfirmedAt)
	}
	if doc.CancelledAt != nil {
		e.Key("cancelledAt")
		e.Time(*doc.CancelledAt)
	}
	e.EndObject()
}

// productItemEvent is the data of ProductItemAddedToShoppingCart and
// ProductItemRemovedFromShoppingCart, as far as the read model needs it,
// in either schema version: version 2's unit price is a Money, version
// 1's a bare number in DefaultCurrency. (A host that upgrades events,
// wasm.WithUpgrade, passes version 2 only.)
type productItemEvent struct {
	ShoppingCartID string
	ClientID       string
	ProductItem    PricedProductItem
	AddedAt        time.Time
	version1       bool
}

// DecodeJSON implements guest.Decodable.
func (ev *productItemEvent) DecodeJSON(d *guest.Decoder) {
	for key := range d.Object() {
		switch string(key) {
		case "shoppingCartId":
			ev.ShoppingCartID = d.String()
		case "clientId":
			ev.ClientID = d.String()
		case "productItem":
			ev.ProductItem.decode(d, ev.version1)
		case "addedAt":
			ev.AddedAt = d.Time()
		default:
			d.Skip()
		}
	}
}

// cartClosed is the data of ShoppingCartConfirmed and
// ShoppingCartCancelled: when.
type cartClosed struct {
	At  time.Time
	key string
}

// DecodeJSON implements guest.Decodable.
func (ev *cartClosed) DecodeJSON(d *guest.Decoder) {
	for key := range d.Object() {
		if string(key) == ev.key {
			ev.At = d.Time()
		} else {
			d.Skip()
		}
	}
}

// cents rounds an amount to cents, so that sums of prices do not drift.
func cents(v float64) float64 { return math.Round(v*100) / 100 }

// Evolve folds an event into a cart's details (nil: none yet).
func Evolve(doc *ShoppingCartDetails, e guest.Event) (*ShoppingCartDetails, error) {
	switch e.Type {
	case "ProductItemAddedToShoppingCart":
		ev := productItemEvent{version1: e.SchemaVersion < 2}
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		item := ev.ProductItem
		if doc == nil {
			doc = &ShoppingCartDetails{ID: ev.ShoppingCartID, ClientID: ev.ClientID, Status: StatusOpened, OpenedAt: ev.AddedAt,
				Currency: item.UnitPrice.Currency, ProductItems: []PricedProductItem{}}
		}
		merged := false
		for i, line := range doc.ProductItems {
			if line.sameLine(item) {
				doc.ProductItems[i].Quantity += item.Quantity
				merged = true
				break
			}
		}
		if !merged {
			doc.ProductItems = append(doc.ProductItems, item)
		}
		doc.ProductItemsCount += item.Quantity
		doc.TotalAmount = cents(doc.TotalAmount + item.totalPrice())

	case "ProductItemRemovedFromShoppingCart":
		if doc == nil {
			return nil, nil
		}
		ev := productItemEvent{version1: e.SchemaVersion < 2}
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		item := ev.ProductItem
		for i, line := range doc.ProductItems {
			if line.sameLine(item) {
				doc.ProductItems[i].Quantity -= item.Quantity
				if doc.ProductItems[i].Quantity <= 0 {
					doc.ProductItems = append(doc.ProductItems[:i], doc.ProductItems[i+1:]...)
				}
				break
			}
		}
		doc.ProductItemsCount -= item.Quantity
		doc.TotalAmount = cents(doc.TotalAmount - item.totalPrice())

	case "ShoppingCartConfirmed":
		if doc == nil {
			return nil, nil
		}
		ev := cartClosed{key: "confirmedAt"}
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		doc.Status, doc.ConfirmedAt = StatusConfirmed, &ev.At

	case "ShoppingCartCancelled":
		if doc == nil {
			return nil, nil
		}
		ev := cartClosed{key: "cancelledAt"}
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		doc.Status, doc.CancelledAt = StatusCancelled, &ev.At

	default:
		return nil, fmt.Errorf("unexpected event type %q", e.Type)
	}
	return doc, nil
}
