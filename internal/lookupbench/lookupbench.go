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
// collection) with both, in each size, alternating which goes first, and
// times them apart. The index on clientId is declared
// (DocumentStore.EnsureIndex) before the documents are written, and the
// raw lookup is written to use it; with index=none the collection has no
// index at all, and raw does without as well.
package lookupbench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/projection"
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

// StoreLookup is the store's lookup on docs: the typed collection's
// FindOne(Eq(Path, clientID)).
func StoreLookup(docs projection.DocumentStore) Lookup {
	carts := projection.NewCollection[Cart](docs, Collection)
	return func(ctx context.Context, clientID string) (Cart, error) {
		cart, found, err := carts.FindOne(ctx, projection.Eq(Path, clientID))
		if err == nil && !found {
			err = fmt.Errorf("no cart of %s", clientID)
		}
		return cart, err
	}
}

// Config is what a store's benchmark provides.
type Config struct {
	// Open returns a store on a new database.
	Open func(b *testing.B) Backend
	// Unindexed also runs each size without the index.
	Unindexed bool
}

// Backend is a store under the benchmark.
type Backend struct {
	// Documents is the store's document store.
	Documents projection.DocumentStore
	// Fill writes the documents 1 to n-1 into Collection (which holds
	// document 0), in one transaction, or what the database does fastest.
	Fill func(ctx context.Context, n int) error
	// Raw returns the raw lookup, through the index on Path if indexed.
	Raw func(indexed bool) Lookup
}

// setup returns the store's lookup and the raw one on a new database
// whose Collection holds the documents 0 to n-1, with the index on Path
// declared through the store before they are written, if indexed.
func setup(b *testing.B, cfg Config, n int, indexed bool) (store, raw Lookup) {
	ctx := context.Background()
	be := cfg.Open(b)
	require.NoError(b, be.Documents.Put(ctx, Collection, ID(0), Document(0))) // creates the collection
	if indexed {
		require.NoError(b, be.Documents.EnsureIndex(ctx, Collection, Path))
	}
	require.NoError(b, be.Fill(ctx, n))
	return StoreLookup(be.Documents), be.Raw(indexed)
}

// Run runs the benchmark, a sub-benchmark per index variant. Each sets up
// a database per size, and each iteration looks up one client in each
// size with both store and raw, so that the sizes are compared under the
// same load of the machine (which, shared, moves absolute figures by 2x
// from one minute to the next). It reports, per size, raw-ns/op@<size>,
// store-ns/op@<size> and ratio@<size> (the store's throughput over raw's,
// from the mean times), and the median times raw-p50-ns@<size> and
// store-p50-ns@<size>, which a busy machine moves less; and growth-store,
// growth-raw and growth-store-p50: the time of a lookup at the largest
// size over its time at the smallest.
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
		b.Run(name, func(b *testing.B) { run(b, cfg, indexed) })
	}
}

func run(b *testing.B, cfg Config, indexed bool) {
	ctx := context.Background()
	stores, raws := make([]Lookup, len(Sizes)), make([]Lookup, len(Sizes))
	for k, n := range Sizes {
		stores[k], raws[k] = setup(b, cfg, n, indexed)
	}
	lookup := func(find Lookup, n, i int) time.Duration {
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
	for k, n := range Sizes { // warm: the page cache, the connections, the statements
		lookup(raws[k], n, 0)
		lookup(stores[k], n, 0)
	}
	rawTimes, storeTimes := make([][]time.Duration, len(Sizes)), make([][]time.Duration, len(Sizes))
	i := 0
	for b.Loop() {
		for k, n := range Sizes {
			if i%2 == 0 {
				rawTimes[k] = append(rawTimes[k], lookup(raws[k], n, i))
				storeTimes[k] = append(storeTimes[k], lookup(stores[k], n, i))
			} else {
				storeTimes[k] = append(storeTimes[k], lookup(stores[k], n, i))
				rawTimes[k] = append(rawTimes[k], lookup(raws[k], n, i))
			}
		}
		i++
	}
	require.NotZero(b, i)
	last := len(Sizes) - 1
	var rawMean, storeMean, rawP50, storeP50 []float64
	for k, n := range Sizes {
		rawMean, storeMean = append(rawMean, mean(rawTimes[k])), append(storeMean, mean(storeTimes[k]))
		rawP50, storeP50 = append(rawP50, median(rawTimes[k])), append(storeP50, median(storeTimes[k]))
		b.ReportMetric(rawMean[k], fmt.Sprintf("raw-ns/op@%d", n))
		b.ReportMetric(storeMean[k], fmt.Sprintf("store-ns/op@%d", n))
		b.ReportMetric(rawMean[k]/storeMean[k], fmt.Sprintf("ratio@%d", n))
		b.ReportMetric(rawP50[k], fmt.Sprintf("raw-p50-ns@%d", n))
		b.ReportMetric(storeP50[k], fmt.Sprintf("store-p50-ns@%d", n))
		b.Logf("%d documents: store %.0f ns/lookup (p50 %.0f), raw %.0f ns/lookup (p50 %.0f), ratio %.2f (store throughput / raw throughput)",
			n, storeMean[k], storeP50[k], rawMean[k], rawP50[k], rawMean[k]/storeMean[k])
	}
	b.ReportMetric(storeMean[last]/storeMean[0], "growth-store")
	b.ReportMetric(rawMean[last]/rawMean[0], "growth-raw")
	b.ReportMetric(storeP50[last]/storeP50[0], "growth-store-p50")
	b.Logf("from %d to %d documents, a lookup takes %.2fx as long with the store (p50 %.2fx), %.2fx raw (p50 %.2fx)", Sizes[0], Sizes[last],
		storeMean[last]/storeMean[0], storeP50[last]/storeP50[0], rawMean[last]/rawMean[0], rawP50[last]/rawP50[0])
}

func mean(ds []time.Duration) float64 {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum.Nanoseconds()) / float64(len(ds))
}

func median(ds []time.Duration) float64 {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return float64(sorted[len(sorted)/2].Nanoseconds())
}
