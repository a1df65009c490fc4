package wasm_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
)

// The cart details projection in Go and as a Wasm module, on the same
// events into the same in-memory document store: a processor catching up
// (batches of 500 events, one transaction each), and inline (each append of
// the scenario with the projection in its transaction, the append's cost
// included). The module runs with its call timeout (the default), and
// compiled without the checks that enforce it (WithoutCallTimeout).
func BenchmarkCartDetails(b *testing.B) {
	ctx := context.Background()
	appends := scenario(3, 200, 2000)
	src := memory.New()
	appendScenario(b, src, appends)
	var all []emmett.RecordedEvent
	for e, err := range src.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, e)
	}
	projections := []struct {
		name string
		p    projection.Projection
	}{
		{"go", sc.CartDetailsProjection()},
		{"wasm", wasmCartDetails(b, sc.CartDetailsName)},
		{"wasm-without-timeout", wasmCartDetails(b, sc.CartDetailsName, wasm.WithoutCallTimeout())},
	}

	rates := map[string]float64{}
	for _, pr := range projections {
		b.Run("catchup/"+pr.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				store := memory.New()
				for i := 0; i < len(all); i += 500 {
					batch := all[i:min(i+500, len(all))]
					if err := store.Commit(ctx, "bench", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
						return pr.p.Handle(ctx, tx, batch)
					}); err != nil {
						b.Fatal(err)
					}
				}
			}
			rates["catchup/"+pr.name] = float64(b.N*len(all)) / b.Elapsed().Seconds()
			b.ReportMetric(rates["catchup/"+pr.name], "events/s")
		})
	}
	data := make([][]eventstore.EventData, len(appends))
	for i, a := range appends {
		var err error
		if data[i], err = eventstore.Encode(sc.Events(), a.events, emmettMetadata); err != nil {
			b.Fatal(err)
		}
	}
	for _, pr := range projections {
		b.Run("inline/"+pr.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				store := memory.New(memory.WithProjections(pr.p))
				for i, a := range appends {
					if _, err := store.AppendToStream(ctx, a.stream, data[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			rates["inline/"+pr.name] = float64(b.N*len(all)) / b.Elapsed().Seconds()
			b.ReportMetric(rates["inline/"+pr.name], "events/s")
		})
	}
	for _, mode := range []string{"catchup", "inline"} {
		for _, variant := range []string{"wasm", "wasm-without-timeout"} {
			if g, w := rates[mode+"/go"], rates[mode+"/"+variant]; g > 0 && w > 0 {
				b.Logf("%s: go %.0f events/s, %s %.0f events/s: wasm/go = %.3f (Go is %.1fx faster)", mode, g, variant, w, w/g, g/w)
			}
		}
	}
}

// Reading the global log as stored, and through the upcaster (every event
// a version 1 ProductItemAddedToShoppingCart, so each goes through the
// module).
func BenchmarkUpcastOnRead(b *testing.B) {
	ctx := context.Background()
	const total = 2000
	inner := memory.New()
	for i := range total / 10 {
		events := make([]eventstore.EventData, 10)
		for j := range events {
			events[j] = v1Added(fmt.Sprintf("c%d", i), "ann", fmt.Sprintf("p%d", j), 1+j, 9.99)
		}
		if _, err := inner.AppendToStream(ctx, sc.StreamName(fmt.Sprintf("c%d", i)), events); err != nil {
			b.Fatal(err)
		}
	}
	fast, err := wasm.NewTransformer(wasmtest.Load(b, "./upcaster", wasm.WithoutCallTimeout()))
	if err != nil {
		b.Fatal(err)
	}
	readers := []struct {
		name string
		r    eventstore.GlobalReader
	}{
		{"stored", inner},
		{"wasm", wasm.NewStore(inner, wasm.TransformOnRead(upcaster(b)))},
		{"wasm-without-timeout", wasm.NewStore(inner, wasm.TransformOnRead(fast))},
	}
	rates := map[string]float64{}
	for _, rd := range readers {
		b.Run(rd.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				for _, err := range rd.r.ReadAll(ctx, eventstore.Position{}) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != total {
					b.Fatalf("read %d events", n)
				}
			}
			rates[rd.name] = float64(b.N*total) / b.Elapsed().Seconds()
			b.ReportMetric(rates[rd.name], "events/s")
		})
	}
	for _, variant := range []string{"wasm", "wasm-without-timeout"} {
		if s, w := rates["stored"], rates[variant]; s > 0 && w > 0 {
			b.Logf("read: stored %.0f events/s, through the %s upcaster %.0f events/s: ratio %.5f", s, variant, w, w/s)
		}
	}
}
