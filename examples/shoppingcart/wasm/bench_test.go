package wasm_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/examples/shoppingcart/wasm/upcaster/upcast"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
)

// alternate runs each variant once per iteration, in an order that rotates,
// and reports each one's throughput (events per run / its own time) and its
// ratio to the first variant's, so that all see the same machine load; and,
// when there is a "go-guest" variant, the ratio of the others to it.
func alternate(b *testing.B, events int, names []string, run func(variant int)) {
	elapsed := make([]time.Duration, len(names))
	i := 0
	for b.Loop() {
		for k := range names {
			v := (i + k) % len(names)
			start := time.Now()
			run(v)
			elapsed[v] += time.Since(start)
		}
		i++
	}
	rates := make([]float64, len(names))
	for v, name := range names {
		rates[v] = float64(b.N*events) / elapsed[v].Seconds()
		b.ReportMetric(rates[v], name+"-events/s")
		if v > 0 {
			b.ReportMetric(rates[v]/rates[0], name+"/"+names[0])
		}
	}
	if g := slices.Index(names, "go-guest"); g >= 0 {
		for v, name := range names {
			if strings.HasPrefix(name, "wasm") {
				b.ReportMetric(rates[v]/rates[g], name+"/go-guest")
			}
		}
	}
}

// The cart details projection in Go (the app's, with encoding/json), the
// module's own code run natively (go-guest: package details, with the
// guest SDK's codec), and as a Wasm module (with its call timeout, the
// default, and compiled without the checks that enforce it,
// WithoutCallTimeout), on the same 2,000 events of 200 carts into the same
// in-memory document store:
//
//   - catchup: a processor catching up, batches of 500 events, one
//     transaction each (Handle on each batch);
//   - inline: every append of the scenario (1 or 2 events) to a store with
//     the projection inline, the append's own cost included.
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
	data := make([][]eventstore.EventData, len(appends))
	for i, a := range appends {
		var err error
		if data[i], err = eventstore.Encode(sc.Events(), a.events, emmettMetadata); err != nil {
			b.Fatal(err)
		}
	}
	names := []string{"go", "go-guest", "wasm", "wasm-without-timeout"}
	projections := []projection.Projection{
		sc.CartDetailsProjection(),
		nativeDetails{collection: sc.CartDetailsName},
		wasmCartDetails(b, sc.CartDetailsName),
		wasmCartDetails(b, sc.CartDetailsName, wasm.WithoutCallTimeout()),
	}

	b.Run("catchup", func(b *testing.B) {
		alternate(b, len(all), names, func(v int) {
			store := memory.New()
			for i := 0; i < len(all); i += 500 {
				batch := all[i:min(i+500, len(all))]
				if err := store.Processors().Commit(ctx, "bench", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
					return projections[v].Handle(ctx, tx, batch)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("inline", func(b *testing.B) {
		alternate(b, len(all), names, func(v int) {
			store := memory.New(memory.WithProjections(projections[v]))
			for i, a := range appends {
				if _, err := store.AppendToStream(ctx, a.stream, data[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// goUpcast is the upcaster module's transformation in Go: upcast with
// upcast.ProductItemV1 (encoding/json) or upcast.ProductItemV1Codec.
func goUpcast(e emmett.RecordedEvent, upcast func([]byte) ([]byte, error)) (emmett.RecordedEvent, error) {
	if e.SchemaVersion >= 2 {
		return e, nil
	}
	data, err := upcast(e.Data)
	if err != nil {
		return e, err
	}
	e.Data, e.SchemaVersion = data, 2
	return e, nil
}

// goUpcastReader applies goUpcast to the events of a read.
type goUpcastReader struct {
	inner  eventstore.GlobalReader
	upcast func([]byte) ([]byte, error)
}

func (r goUpcastReader) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return func(yield func(emmett.RecordedEvent, error) bool) {
		for e, err := range r.inner.ReadAll(ctx, after, opts...) {
			if err == nil {
				e, err = goUpcast(e, r.upcast)
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Reading the global log (2,000 events, every one a version 1
// ProductItemAddedToShoppingCart) through the same upcaster in Go (with
// encoding/json), the module's own code run natively (go-guest:
// upcast.ProductItemV1Codec, the guest SDK's codec), and as a Wasm module
// with and without its call timeout.
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
	names := []string{"go", "go-guest", "wasm", "wasm-without-timeout"}
	readers := []eventstore.GlobalReader{
		goUpcastReader{inner, upcast.ProductItemV1},
		goUpcastReader{inner, upcast.ProductItemV1Codec},
		wasm.NewStore(inner, wasm.TransformOnRead(upcaster(b))),
		wasm.NewStore(inner, wasm.TransformOnRead(fast)),
	}
	alternate(b, total, names, func(v int) {
		n := 0
		for e, err := range readers[v].ReadAll(ctx, eventstore.Position{}) {
			if err != nil {
				b.Fatal(err)
			}
			if !bytes.Contains(e.Data, []byte(`"unitPrice":{"amount":`)) || e.SchemaVersion != 2 {
				b.Fatalf("not upcast: %s", e.Data)
			}
			n++
		}
		if n != total {
			b.Fatalf("read %d events", n)
		}
	})
}
