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
