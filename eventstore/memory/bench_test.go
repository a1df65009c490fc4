package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

func benchEvents(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{
			Type: "ProductItemAddedToShoppingCart",
			Data: fmt.Appendf(nil, `{"shoppingCartId":"cart-%d","productItem":{"productId":"p-%d","quantity":2,"unitPrice":9.99}}`, i, i),
		}
	}
	return out
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) {
			ctx := context.Background()
			s := memory.New()
			evs := benchEvents(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.AppendToStream(ctx, fmt.Sprintf("cart-%d", i%1000), evs); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkReadStream(b *testing.B) {
	ctx := context.Background()
	s := memory.New()
	const total = 100_000
	for i := 0; i < total; i += 1000 {
		if _, err := s.AppendToStream(ctx, "cart-big", benchEvents(1000)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range s.ReadStream(ctx, "cart-big") {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != total {
			b.Fatalf("read %d events", n)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}
