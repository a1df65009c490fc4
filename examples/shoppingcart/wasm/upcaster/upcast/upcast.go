// Package upcast is the transformation of the upcaster module
// (examples/shoppingcart/wasm/upcaster) as a function of the event's JSON,
// twice: ProductItemV1 with encoding/json, as a Go application would write
// it (the benchmark's Go baseline), and ProductItemV1Codec with the guest
// SDK's codec, which the module runs (and the benchmark natively too).
package upcast

import (
	"encoding/json"

	"github.com/emmett-go/emmett/projection/wasm/guest"
)

// DefaultCurrency is the currency of version 1's bare prices.
const DefaultCurrency = "EUR"

// ProductItemV1 returns the JSON of a version 1 product item event
// (ProductItemAddedToShoppingCart or ProductItemRemovedFromShoppingCart)
// at version 2: the product item's bare price, under "unitPrice" or, in
// its earliest form, "price", becomes a money object in DefaultCurrency.
func ProductItemV1(data []byte) ([]byte, error) {
	var event map[string]json.RawMessage
	if err := json.Unmarshal(data, &event); err != nil {
		return nil, err
	}
	var item map[string]json.RawMessage
	if err := json.Unmarshal(event["productItem"], &item); err != nil {
		return nil, err
	}
	price, ok := item["unitPrice"]
	if !ok {
		price = item["price"]
	}
	var amount float64
	if len(price) > 0 {
		if err := json.Unmarshal(price, &amount); err != nil {
			return nil, err
		}
	}
	delete(item, "price")
	money, err := json.Marshal(map[string]any{"amount": amount, "currency": DefaultCurrency})
	if err != nil {
		return nil, err
	}
	item["unitPrice"] = money
	raw, err := json.Marshal(item)
	if err != nil {
		return nil, err
	}
	event["productItem"] = raw
	return json.Marshal(event)
}

// ProductItemV1Codec is ProductItemV1 with the guest SDK's Decoder and
// Encoder instead of encoding/json, as the upcaster module runs it: it
// copies the event's members as they are, in their order, but for the
// product item's, whose price becomes the money object. The JSON it
// returns means the same as ProductItemV1's (whose members come out in
// alphabetical order, as encoding/json writes a map).
func ProductItemV1Codec(data []byte) ([]byte, error) {
	return ProductItemV1Append(make([]byte, 0, len(data)+48), data)
}

// ProductItemV1Append is ProductItemV1Codec appending to buf.
func ProductItemV1Append(buf, data []byte) ([]byte, error) {
	d := guest.NewDecoder(data)
	e := guest.NewEncoder(buf)
	e.BeginObject()
	for key := range d.Object() {
		e.Key(string(key))
		if string(key) == "productItem" {
			productItemV1(d, e)
		} else {
			e.Raw(d.Raw())
		}
	}
	e.EndObject()
	if err := d.Err(); err != nil {
		return nil, err
	}
	return e.Bytes(), e.Err()
}

// productItemV1 copies a version 1 product item with its price, under
// "unitPrice" or "price", as a money object in DefaultCurrency.
func productItemV1(d *guest.Decoder, e *guest.Encoder) {
	var unitPrice, price float64
	hasUnitPrice := false
	e.BeginObject()
	for key := range d.Object() {
		switch string(key) {
		case "unitPrice":
			unitPrice, hasUnitPrice = d.Float64(), true
		case "price":
			price = d.Float64()
		default:
			e.Key(string(key))
			e.Raw(d.Raw())
		}
	}
	if hasUnitPrice {
		price = unitPrice
	}
	e.Key("unitPrice")
	e.BeginObject()
	e.Key("amount")
	e.Float64(price)
	e.Key("currency")
	e.String(DefaultCurrency)
	e.EndObject()
	e.EndObject()
}
