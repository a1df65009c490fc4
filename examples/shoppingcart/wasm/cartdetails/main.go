// Command cartdetails is the shopping cart's details read model
// (shoppingcart.CartDetailsProjection) as a WebAssembly module: one
// ShoppingCartDetails document per cart stream, with product items merged
// by product and unit price. Its logic is package details, written
// against the events' JSON, as a module in another language would be, and
// without encoding/json (see package details); the tests check that it
// keeps the same documents as the Go projection, byte for byte. Build it
// with
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
	"github.com/emmett-go/emmett/examples/shoppingcart/wasm/cartdetails/details"
	"github.com/emmett-go/emmett/projection/wasm/guest"
)

func init() {
	guest.RegisterProjection(guest.Projection{
		EventTypes: details.EventTypes,
		// Of the envelope, details.Evolve reads the type, the data and
		// its schema version: the host sends only those.
		Fields: []guest.Field{guest.FieldSchemaVersion},
		Evolve: guest.Evolve(details.Evolve),
	})
}

func main() {}
