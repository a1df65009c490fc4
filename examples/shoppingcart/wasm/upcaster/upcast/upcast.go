// Package upcast is the transformation of the upcaster module
// (examples/shoppingcart/wasm/upcaster) as a function of the event's JSON,
// so that the module and its benchmark's Go baseline run the same code.
package upcast

import "encoding/json"

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
