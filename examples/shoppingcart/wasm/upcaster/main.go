// Command upcaster is a WebAssembly module that upcasts the shopping
// cart's events from their first version. In version 1 a product item's
// unit price was stored as "price":
//
//	{"shoppingCartId": "c1", "clientId": "ann", "productItem": {"productId": "shoes", "quantity": 2, "price": 100}, ...}
//
// and version 2 (package shoppingcart) calls it "unitPrice". Applied on
// read, it lets the domain code see version 2 only, without rewriting the
// stored events; applied before append, it turns version 1 events that
// old producers still send into version 2 ones:
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
	"encoding/json"

	"github.com/emmett-go/emmett/projection/wasm/guest"
)

func init() {
	guest.RegisterTransform(guest.Transform{
		// Only these carry product items; other events pass through the
		// host untouched, without a call into the module.
		EventTypes: []string{"ProductItemAddedToShoppingCart", "ProductItemRemovedFromShoppingCart"},
		Transform:  upcast,
	})
}

func main() {}

// upcast renames the product item's "price" to "unitPrice"; a version 2
// event is returned as it is.
func upcast(e guest.Event) ([]guest.Event, error) {
	var data map[string]json.RawMessage
	if err := e.Decode(&data); err != nil {
		return nil, err
	}
	var item map[string]json.RawMessage
	if err := json.Unmarshal(data["productItem"], &item); err != nil {
		return nil, err
	}
	price, v1 := item["price"]
	if _, v2 := item["unitPrice"]; !v1 || v2 {
		return []guest.Event{e}, nil
	}
	delete(item, "price")
	item["unitPrice"] = price
	raw, err := json.Marshal(item)
	if err != nil {
		return nil, err
	}
	data["productItem"] = raw
	upcast, err := e.With(e.Type, data)
	return []guest.Event{upcast}, err
}
