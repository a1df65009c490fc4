// Command upcaster is a WebAssembly module that upcasts the shopping
// cart's product item events to their current version, 2: the same as the
// Go upcasters of shoppingcart.Events do, for a reader or writer that
// would rather run them in a module (written in any language) than in Go.
// Version 1 stored the unit price as a bare number in
// shoppingcart.DefaultCurrency, under "unitPrice" or, in its earliest
// form, "price":
//
//	{"shoppingCartId": "c1", "clientId": "ann", "productItem": {"productId": "shoes", "quantity": 2, "price": 100}, ...}
//
// and version 2 stores it as a money object, {"amount": 100, "currency":
// "EUR"}. Applied on read, it lets the domain code see version 2 only,
// without rewriting the stored events; applied before append, it turns
// version 1 events that old producers still send into version 2 ones:
//
//	m, err := wasm.LoadFile(ctx, "upcaster.wasm")
//	upcaster, err := wasm.NewTransformer(m)
//	store := wasm.NewStore(memory.New(), wasm.TransformOnRead(upcaster), wasm.TransformBeforeAppend(upcaster))
//
// or, to run the app on it, with processors fed by the backend's feed:
//
//	backend := wasm.NewBackendStore(sqliteStore, wasm.TransformOnRead(upcaster))
//	summary := projection.NewProjectionProcessor(backend.Processors(), backend.Source(), shoppingcart.ClientSummaryProjection())
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o upcaster.wasm ./examples/shoppingcart/wasm/upcaster
package main

import (
	"github.com/emmett-go/emmett/examples/shoppingcart/wasm/upcaster/upcast"
	"github.com/emmett-go/emmett/projection/wasm/guest"
)

func init() {
	guest.RegisterTransform(guest.Transform{
		// Only these carry product items; other events pass through the
		// host untouched, without a call into the module.
		EventTypes: []string{"ProductItemAddedToShoppingCart", "ProductItemRemovedFromShoppingCart"},
		// Of the envelope, transform reads the type, the data and its
		// schema version: the host sends only those, and keeps the rest
		// (metadata, message id) as it was.
		Fields:    []guest.Field{guest.FieldSchemaVersion},
		Transform: transform,
	})
}

func main() {}

// transform upcasts a version 1 event (upcast.ProductItemV1Codec, without
// encoding/json) and says it is at version 2; an event at version 2
// already is returned as it is.
func transform(e guest.Event) ([]guest.Event, error) {
	if e.SchemaVersion >= 2 {
		return []guest.Event{e}, nil
	}
	data, err := upcast.ProductItemV1Codec(e.Data)
	if err != nil {
		return nil, err
	}
	e.Data, e.SchemaVersion = data, 2
	return []guest.Event{e}, nil
}
