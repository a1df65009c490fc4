// Command cartdetails is the shopping cart's details read model
// (shoppingcart.CartDetailsProjection) as a WebAssembly module: one
// ShoppingCartDetails document per cart stream, with product items merged
// by product and unit price.
//
// It is written against the events' JSON, as a module in another language
// would be, rather than importing package shoppingcart (which it could: a
// guest is ordinary Go); the tests check that it keeps the same documents
// as the Go projection. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o cartdetails.wasm ./examples/shoppingcart/wasm/cartdetails
//
// and run it with package wasm:
//
//	m, err := wasm.LoadFile(ctx, "cartdetails.wasm")
//	p, err := wasm.NewProjection(m, shoppingcart.CartDetailsName)
//	store := memory.New(memory.WithProjections(p))
//
// Built for another platform, the package compiles to a program that does
// nothing.
package main

import (
	"fmt"
	"math"
	"time"

	"github.com/emmett-go/emmett/projection/wasm/guest"
)

// Cart statuses.
const (
	statusOpened    = "Opened"
	statusConfirmed = "Confirmed"
	statusCancelled = "Cancelled"
)

// Money is an amount in a currency.
type Money struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
}

// defaultCurrency is the currency of the bare prices of version 1 events.
const defaultCurrency = "EUR"

// PricedProductItem is a quantity of a product at a unit price.
type PricedProductItem struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
	UnitPrice Money  `json:"unitPrice"`
}

func (p PricedProductItem) sameLine(q PricedProductItem) bool {
	return p.ProductID == q.ProductID && p.UnitPrice == q.UnitPrice
}

func (p PricedProductItem) totalPrice() float64 { return float64(p.Quantity) * p.UnitPrice.Amount }

// productItem reads the product item of a product item event, in either
// of its schema versions: version 2's unit price is a Money, version 1's
// a bare number in defaultCurrency. (A host that upgrades events,
// wasm.WithUpgrade, passes version 2 only.)
func productItem(e guest.Event) (PricedProductItem, error) {
	if e.SchemaVersion >= 2 {
		var ev struct {
			ProductItem PricedProductItem `json:"productItem"`
		}
		err := e.Decode(&ev)
		return ev.ProductItem, err
	}
	var v1 struct {
		ProductItem struct {
			ProductID string  `json:"productId"`
			Quantity  int     `json:"quantity"`
			UnitPrice float64 `json:"unitPrice"`
		} `json:"productItem"`
	}
	err := e.Decode(&v1)
	p := v1.ProductItem
	return PricedProductItem{ProductID: p.ProductID, Quantity: p.Quantity, UnitPrice: Money{Amount: p.UnitPrice, Currency: defaultCurrency}}, err
}

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

// The events, as far as the read model needs them.
type (
	productItemAdded struct {
		ShoppingCartID string    `json:"shoppingCartId"`
		ClientID       string    `json:"clientId"`
		AddedAt        time.Time `json:"addedAt"`
	}
	cartConfirmed struct {
		ConfirmedAt time.Time `json:"confirmedAt"`
	}
	cartCancelled struct {
		CancelledAt time.Time `json:"cancelledAt"`
	}
)

func init() {
	guest.RegisterProjection(guest.Projection{
		EventTypes: []string{
			"ProductItemAddedToShoppingCart",
			"ProductItemRemovedFromShoppingCart",
			"ShoppingCartConfirmed",
			"ShoppingCartCancelled",
		},
		Evolve: guest.Evolve(evolve),
	})
}

func main() {}

// cents rounds an amount to cents, so that sums of prices do not drift.
func cents(v float64) float64 { return math.Round(v*100) / 100 }

func evolve(doc *ShoppingCartDetails, e guest.Event) (*ShoppingCartDetails, error) {
	switch e.Type {
	case "ProductItemAddedToShoppingCart":
		var ev productItemAdded
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		item, err := productItem(e)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			doc = &ShoppingCartDetails{ID: ev.ShoppingCartID, ClientID: ev.ClientID, Status: statusOpened, OpenedAt: ev.AddedAt,
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
		item, err := productItem(e)
		if err != nil {
			return nil, err
		}
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
		var ev cartConfirmed
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		doc.Status, doc.ConfirmedAt = statusConfirmed, &ev.ConfirmedAt

	case "ShoppingCartCancelled":
		if doc == nil {
			return nil, nil
		}
		var ev cartCancelled
		if err := e.Decode(&ev); err != nil {
			return nil, err
		}
		doc.Status, doc.CancelledAt = statusCancelled, &ev.CancelledAt

	default:
		return nil, fmt.Errorf("unexpected event type %q", e.Type)
	}
	return doc, nil
}
