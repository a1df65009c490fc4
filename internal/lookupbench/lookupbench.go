// Package lookupbench is the scenario of the SQL stores' document lookup
// benchmarks (BenchmarkDocumentLookup): finding a document by a field, as
// the sample app once found a client's open cart, in collections of 1,000,
// 10,000 and 100,000 documents, against the raw driver doing the same
// lookup in the same run.
//
// The collection holds one cart per client (Document): store, the typed
// collection's FindOne(Eq("clientId", id)), decoded into a Cart; raw, a
// prepared SELECT of the first document (in id order) whose clientId is
// id, scanned and decoded with encoding/json into a Cart. Each iteration
// looks up one client (a different one each time, spread over the
// collection) with both, alternating which goes first, and times them
// apart. The index on clientId is declared (DocumentStore.EnsureIndex)
// before the documents are written, and the raw lookup is written to use
// it; with index=none the collection has no index on the field (the store
// as it was before indexes), and raw does without as well.
package lookupbench

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Collection is the collection looked up in; Path is the field looked up
// by.
const (
	Collection = "bench_carts"
	Path       = "clientId"
)

// Sizes are the collection sizes the benchmark runs at.
var Sizes = []int{1_000, 10_000, 100_000}

// Cart is a document: a client's cart, as the sample app's short info.
type Cart struct {
	ID                string  `json:"id"`
	ClientID          string  `json:"clientId"`
	ProductItemsCount int     `json:"productItemsCount"`
	TotalAmount       float64 `json:"totalAmount"`
}

// ID is the id of the i-th document.
func ID(i int) string { return fmt.Sprintf("shopping_cart-client-%06d:1", i) }

// ClientID is the client of the i-th document.
func ClientID(i int) string { return fmt.Sprintf("client-%06d", i) }

// Document is the JSON of the i-th document.
func Document(i int) []byte {
	data, err := json.Marshal(Cart{ID: ID(i), ClientID: ClientID(i), ProductItemsCount: 1 + i%7, TotalAmount: float64(i%1000) + 0.5})
	if err != nil {
		panic(err)
	}
	return data
}

// Lookup finds the cart of a client.
type Lookup func(ctx context.Context, clientID string) (Cart, error)

// Config is what a store's benchmark provides.
type Config struct {
	// Setup returns a store's lookup and the raw one, on a database whose
	// Collection holds the documents 0 to n-1, with an index on Path
	// (declared through the store) when indexed.
	Setup func(b *testing.B, n int, indexed bool) (store, raw Lookup)
	// Unindexed also runs each size without the index.
	Unindexed bool
}

// Run runs the benchmark: a sub-benchmark per index variant and size,
// reporting raw-ns/op, store-ns/op and ratio (the store's throughput over
// raw's).
func Run(b *testing.B, cfg Config) {
	variants := []bool{true}
	if cfg.Unindexed {
		variants = append(variants, false)
	}
	for _, indexed := range variants {
		name := "index=" + Path
		if !indexed {
			name = "index=none"
		}
		for _, n := range Sizes {
			b.Run(fmt.Sprintf("%s/docs=%d", name, n), func(b *testing.B) { run(b, cfg, n, indexed) })
		}
	}
}

func run(b *testing.B, cfg Config, n int, indexed bool) {
	ctx := context.Background()
	store, raw := cfg.Setup(b, n, indexed)
	lookup := func(find Lookup, i int) time.Duration {
		want := ClientID(i * 7919 % n) // a prime stride: spread over the collection
		t0 := time.Now()
		cart, err := find(ctx, want)
		elapsed := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if cart.ClientID != want {
			b.Fatalf("looked up %s, found %+v", want, cart)
		}
		return elapsed
	}
	lookup(raw, 0) // warm both: the page cache, the connections, the statements
	lookup(store, 0)
	var rawTime, storeTime time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			rawTime += lookup(raw, i)
			storeTime += lookup(store, i)
		} else {
			storeTime += lookup(store, i)
			rawTime += lookup(raw, i)
		}
		i++
	}
	require.NotZero(b, i)
	rawNs, storeNs := float64(rawTime.Nanoseconds())/float64(i), float64(storeTime.Nanoseconds())/float64(i)
	b.ReportMetric(rawNs, "raw-ns/op")
	b.ReportMetric(storeNs, "store-ns/op")
	b.ReportMetric(rawNs/storeNs, "ratio")
	b.Logf("%d documents: store %.0f ns/lookup, raw %.0f ns/lookup, ratio %.2f (store throughput / raw throughput)", n, storeNs, rawNs, rawNs/storeNs)
}
