package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/stretchr/testify/require"
)

// BenchmarkPlatform measures the store's appends and reads with the
// driver of the platform it runs on, on any target: natively (modernc),
// and on js/wasm under Node and wasip1 under wazero (ncruces, see
// docs/performance.md, which compares them run against run). Each
// reports ns/event, on an in-memory database and on a file with
// synchronous=NORMAL.
func BenchmarkPlatform(b *testing.B) {
	ctx := context.Background()
	open := func(b *testing.B, db string) *sqlite.Store {
		path := ":memory:"
		if db == "file" {
			path = filepath.Join(b.TempDir(), "platform.db")
		}
		s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		return s
	}
	for _, db := range []string{"memory", "file"} {
		for _, size := range []int{1, 100} {
			b.Run(fmt.Sprintf("db=%s/append/events=%d", db, size), func(b *testing.B) {
				s := open(b, db)
				events := eventsN("Added", 0, size)
				var v int64
				for b.Loop() {
					res, err := s.AppendToStream(ctx, "shopping_cart-1", events, eventstore.ExpectVersion(v))
					if err != nil {
						b.Fatal(err)
					}
					v = res.NextExpectedVersion
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			})
		}
		b.Run(fmt.Sprintf("db=%s/read/events=10000", db), func(b *testing.B) {
			s := open(b, db)
			const total = 10_000
			for v := int64(0); v < total; v += 1000 {
				_, err := s.AppendToStream(ctx, "shopping_cart-1", eventsN("Added", int(v), 1000), eventstore.ExpectVersion(v))
				require.NoError(b, err)
			}
			for b.Loop() {
				n := 0
				for _, err := range s.ReadStream(ctx, "shopping_cart-1") {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != total {
					b.Fatalf("read %d events", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/event")
		})
	}
}
