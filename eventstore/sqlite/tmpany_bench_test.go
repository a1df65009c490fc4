package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
)

func BenchmarkTmpAppendAny(b *testing.B) {
	for _, exp := range []string{"any", "exists"} {
		b.Run(exp, func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), ":memory:")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ev := eventsN("E", 0, 1)
			for k := range 100 {
				s.AppendToStream(context.Background(), fmt.Sprint("s-", k), ev)
			}
			e := eventstore.ExpectAny()
			if exp == "exists" {
				e = eventstore.ExpectStreamExists()
			}
			i := 0
			for b.Loop() {
				if _, err := s.AppendToStream(context.Background(), fmt.Sprint("s-", i%100), ev, e); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
