package wasm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
)

type tick struct{}

func (tick) EventType() string { return "Tick" }

type constantDoc struct {
	Constant bool `json:"constant"`
}

// The host's own cost: a projection whose evolve does nothing but return a
// constant document, in Go and as a hand-assembled module (no language
// runtime in the guest), on 2,000 events of 200 streams in batches of 500.
// What remains is the ABI: envelopes, calls, copies, result decoding.
func BenchmarkHostOverhead(b *testing.B) {
	ctx := context.Background()
	src := memory.New()
	for i := range 200 {
		events := make([]eventstore.EventData, 10)
		for j := range events {
			events[j] = eventstore.EventData{Type: "Tick", Data: []byte(`{"n":1}`)}
		}
		if _, err := src.AppendToStream(ctx, fmt.Sprintf("s-%d", i), events); err != nil {
			b.Fatal(err)
		}
	}
	var all []emmett.RecordedEvent
	for e, err := range src.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, e)
	}
	goP := projection.SingleStream("constants", emmett.NewEvents[tick](tick{}), func(*constantDoc, emmett.Recorded[tick]) *constantDoc {
		return &constantDoc{Constant: true}
	})
	m, err := wasm.Load(ctx, handmade(constant(45000, documentJSON)))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(ctx)
	wasmP, err := wasm.NewProjection(m, "constants")
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"go", "wasm"}
	projections := []projection.Projection{goP, wasmP}
	elapsed := make([]time.Duration, len(names))
	i := 0
	for b.Loop() {
		for k := range names {
			v := (i + k) % len(names)
			start := time.Now()
			store := memory.New()
			for j := 0; j < len(all); j += 500 {
				batch := all[j:min(j+500, len(all))]
				if err := store.Processors().Commit(ctx, "bench", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
					return projections[v].Handle(ctx, tx, batch)
				}); err != nil {
					b.Fatal(err)
				}
			}
			elapsed[v] += time.Since(start)
		}
		i++
	}
	rates := make([]float64, len(names))
	for v, name := range names {
		rates[v] = float64(b.N*len(all)) / elapsed[v].Seconds()
		b.ReportMetric(rates[v], name+"-events/s")
	}
	b.ReportMetric(rates[1]/rates[0], "wasm/go")
}
