package aggregate_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

type ItemAdded struct {
	CartID    string  `json:"cartId"`
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
}

func (ItemAdded) isEvent() {}

const replayEvents = 10_000

func replaySetup(b *testing.B) (*memory.Store, *emmett.Events[Event]) {
	ctx := context.Background()
	reg := emmett.NewEvents[Event](ItemAdded{}, Added{}, Reset{})
	s := memory.New()
	evs := make([]Event, 1000)
	for i := range evs {
		evs[i] = ItemAdded{CartID: "cart-1", ProductID: "shoes", Quantity: 1, UnitPrice: 9.5}
	}
	data, err := eventstore.Encode(reg, evs, emmett.Metadata{})
	if err != nil {
		b.Fatal(err)
	}
	for range replayEvents / 1000 {
		if _, err := s.AppendToStream(ctx, "cart-1", data); err != nil {
			b.Fatal(err)
		}
	}
	return s, reg
}

func sumQuantity(n int, e Event) int {
	if a, ok := e.(ItemAdded); ok {
		return n + a.Quantity
	}
	return n
}

// BenchmarkLoad replays a stream through the registry's decoding and Evolve.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	s, reg := replaySetup(b)
	b.ReportAllocs()
	for b.Loop() {
		st, err := aggregate.Load(ctx, s, reg, "cart-1", sumQuantity, initial)
		if err != nil || st.State != replayEvents {
			b.Fatal(err, st.State)
		}
	}
	b.ReportMetric(float64(b.N*replayEvents)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLoadRaw is the floor BenchmarkLoad is compared to: the same
// stream read and each event's JSON decoded straight into its struct.
func BenchmarkLoadRaw(b *testing.B) {
	ctx := context.Background()
	s, _ := replaySetup(b)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for rec, err := range s.ReadStream(ctx, "cart-1") {
			if err != nil {
				b.Fatal(err)
			}
			var e ItemAdded
			if err := json.Unmarshal(rec.Data, &e); err != nil {
				b.Fatal(err)
			}
			n += e.Quantity
		}
		if n != replayEvents {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.N*replayEvents)/b.Elapsed().Seconds(), "events/s")
}

// The version-1 and version-2 forms of ItemAdded, for the upcasting
// benchmark: v1 named its fields otherwise, v2 kept the price in cents.
type itemAddedV1 struct {
	Cart    string  `json:"cart"`
	Product string  `json:"product"`
	Qty     int     `json:"qty"`
	Price   float64 `json:"price"`
}

type itemAddedV2 struct {
	CartID     string `json:"cartId"`
	ProductID  string `json:"productId"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"priceCents"`
}

// upcastingRegistry is the benchmark's registry, with ItemAdded at version
// 3 through a two-step chain of typed upcasters.
func upcastingRegistry() *emmett.Events[Event] {
	return emmett.NewEvents[Event](ItemAdded{}, Added{}, Reset{}).
		Upcast("ItemAdded", 1, emmett.UpcastJSON(func(v1 itemAddedV1) (itemAddedV2, error) {
			return itemAddedV2{CartID: v1.Cart, ProductID: v1.Product, Quantity: v1.Qty, PriceCents: int64(v1.Price*100 + 0.5)}, nil
		})).
		Upcast("ItemAdded", 2, emmett.UpcastJSON(func(v2 itemAddedV2) (ItemAdded, error) {
			return ItemAdded{CartID: v2.CartID, ProductID: v2.ProductID, Quantity: v2.Quantity, UnitPrice: float64(v2.PriceCents) / 100}, nil
		}))
}

// BenchmarkLoadUpcast replays the stream of BenchmarkLoad stored at
// version 1, through a two-step chain of upcasters (v1 -> v2 -> v3):
// compare its events/s with BenchmarkLoad's, the same replay of events
// stored at the current version.
func BenchmarkLoadUpcast(b *testing.B) {
	ctx := context.Background()
	s := memory.New()
	data, err := json.Marshal(itemAddedV1{Cart: "cart-1", Product: "shoes", Qty: 1, Price: 9.5})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]eventstore.EventData, 1000)
	for i := range batch {
		batch[i] = eventstore.EventData{Type: "ItemAdded", Data: data, SchemaVersion: 1}
	}
	for range replayEvents / 1000 {
		if _, err := s.AppendToStream(ctx, "cart-1", batch); err != nil {
			b.Fatal(err)
		}
	}
	reg := upcastingRegistry()
	b.ReportAllocs()
	for b.Loop() {
		st, err := aggregate.Load(ctx, s, reg, "cart-1", sumQuantity, initial)
		if err != nil || st.State != replayEvents {
			b.Fatal(err, st.State)
		}
	}
	b.ReportMetric(float64(b.N*replayEvents)/b.Elapsed().Seconds(), "events/s")
}
