package guest_test

import (
	"encoding/json"
	"fmt"

	"github.com/emmett-go/emmett/projection/wasm/guest"
)

// A document projection: one Counter per stream, deleted by a Reset.
// Register it from the init function of the module's main package.
func ExampleRegisterProjection() {
	type Counter struct {
		Count int `json:"count"`
	}
	guest.RegisterProjection(guest.Projection{
		EventTypes: []string{"Clicked", "Reset"},
		Evolve: guest.Evolve(func(doc *Counter, e guest.Event) (*Counter, error) {
			if e.Type == "Reset" {
				return nil, nil // delete the document
			}
			if doc == nil {
				doc = &Counter{}
			}
			doc.Count++
			return doc, nil
		}),
	})
}

// A multi-stream projection: the document of each event's client.
func ExampleProjection_documentIDs() {
	_ = guest.Projection{
		DocumentIDs: func(e guest.Event) ([]string, error) {
			var data struct {
				ClientID string `json:"clientId"`
			}
			if err := e.Decode(&data); err != nil {
				return nil, err
			}
			return []string{"client-" + data.ClientID}, nil
		},
		Evolve: guest.EvolveJSON(func(doc []byte, e guest.Event) ([]byte, error) {
			return json.Marshal(map[string]string{"last": e.Type})
		}),
	}
}

// An upcaster: version 1 of an event called the field "price".
func ExampleRegisterTransform() {
	guest.RegisterTransform(guest.Transform{
		EventTypes: []string{"ProductItemAdded"},
		Transform: func(e guest.Event) ([]guest.Event, error) {
			var data map[string]any
			if err := e.Decode(&data); err != nil {
				return nil, err
			}
			if price, v1 := data["price"]; v1 {
				delete(data, "price")
				data["unitPrice"] = price
			}
			next, err := e.With(e.Type, data)
			return []guest.Event{next}, err
		},
	})
}

func ExampleEvent_With() {
	e := guest.Event{Type: "Old", Data: json.RawMessage(`{"price":9.5}`), StreamName: "cart-1"}
	next, err := e.With("New", map[string]float64{"unitPrice": 9.5})
	fmt.Println(next.Type, string(next.Data), next.StreamName, err)
	// Output: New {"unitPrice":9.5} cart-1 <nil>
}

// Money reads and writes itself without reflection.
type Money struct {
	Amount   float64
	Currency string
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

// A type with DecodeJSON and EncodeJSON methods is read and written by the
// guest's codec, without reflection: by Unmarshal and Marshal, and by
// Event.Decode, Event.With and Evolve.
func ExampleDecodable() {
	var m Money
	err := guest.Unmarshal([]byte(`{"amount": 9.99, "currency": "EUR", "note": "unknown members are skipped"}`), &m)
	fmt.Println(m, err)
	out, err := guest.Marshal(m)
	fmt.Println(string(out), err)
	// Output:
	// {9.99 EUR} <nil>
	// {"amount":9.99,"currency":"EUR"} <nil>
}
