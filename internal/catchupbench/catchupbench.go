// Package catchupbench is the scenario of the SQL stores' projector
// catch-up benchmarks (BenchmarkProjectorCatchUp): a projector catching up
// on a backlog of cart events (internal/testdomain) into the store's
// documents (the cart details read model), against the raw driver doing
// the equivalent database work in the same run.
//
// The backlog is Carts carts of 5 events (3 items added, one removed, then
// confirmed or cancelled), their events interleaved Wave
// carts at a time, one event per append, so that a batch touches many
// carts. Store: a projector (projection.NewProjectionProcessor on the store's
// Source, with a fresh processor id each time) runs from the start of the
// log until it has processed the last event: it reads the log in batches,
// decodes the events, reads each document a batch touches, evolves it,
// writes it, and moves its checkpoint, one transaction per batch. Raw (the
// backend's part): the same batches read with the store's SELECT, then in
// one transaction per batch, for each cart the batch touches, a SELECT of
// its document and an upsert of RawDocument into RawCollection, and an
// UPDATE of a checkpoint row. The two alternate which goes first.
//
// The same backlog serves the benchmarks of failure policies
// (RunPolicies) and of building a new version of a projection, quiet and
// under load (RunVersionBuild).
package catchupbench

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// The backlog's size.
const (
	Carts   = 20_000
	PerCart = 5
	Events  = Carts * PerCart
	// Wave is how many carts' events are interleaved.
	Wave = 100
)

// RawCollection is the collection the raw equivalent writes to; Run has
// the store create it, so that raw writes the same layout.
const RawCollection = "raw_cart_details"

// Append is one append of the backlog.
type Append struct {
	Stream string
	Events []eventstore.EventData
}

// Backlog builds the backlog with appendStep, called with each step of a
// wave in turn: an append of one event to each of its carts, in cart
// order.
func Backlog(b *testing.B, appendStep func(step []Append) error) {
	events := testdomain.Events()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for first := 0; first < Carts; first += Wave {
		for step := range PerCart {
			var appends []Append
			for c := first; c < min(first+Wave, Carts); c++ {
				id := fmt.Sprintf("cart-%05d", c)
				data, err := eventstore.Encode(events, []testdomain.Event{cartEvent(id, c, step, at)}, emmett.Metadata{})
				require.NoError(b, err)
				appends = append(appends, Append{Stream: testdomain.StreamName(id), Events: data})
			}
			require.NoError(b, appendStep(appends))
			n += len(appends)
		}
	}
	require.Equal(b, Events, n)
}

// cartEvent is event step (0 to PerCart-1) of cart number c, whose id is
// id: 3 items added, one removed, then confirmed (or, for every fourth
// cart, cancelled).
func cartEvent(id string, c, step int, at time.Time) testdomain.Event {
	client := fmt.Sprintf("client-%04d", c%1000)
	item := testdomain.Item{ProductID: fmt.Sprintf("p-%d", (c+step)%3), Quantity: 1 + step, UnitPrice: 9.99}
	switch step {
	case 0, 1, 2:
		return testdomain.ItemAdded{CartID: id, ClientID: client, Item: item, At: at}
	case 3:
		item.ProductID, item.Quantity = fmt.Sprintf("p-%d", c%3), 1
		return testdomain.ItemRemoved{CartID: id, Item: item, At: at}
	default:
		if c%4 == 0 {
			return testdomain.CartCancelled{CartID: id, At: at}
		}
		return testdomain.CartConfirmed{CartID: id, At: at}
	}
}

// RawDocument is the representative cart document (~320 bytes of JSON)
// that the raw equivalent writes for every cart a batch touches.
func RawDocument(b *testing.B) []byte {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	doc, err := json.Marshal(testdomain.CartDetails{ID: "cart-00042", ClientID: "client-0042", Status: testdomain.Confirmed, OpenedAt: at, ClosedAt: &at,
		Lines: []testdomain.Item{{ProductID: "p-0", Quantity: 2, UnitPrice: 9.99}, {ProductID: "p-1", Quantity: 3, UnitPrice: 9.99}, {ProductID: "p-2", Quantity: 3, UnitPrice: 9.99}},
		Count: 8, Total: 79.92})
	require.NoError(b, err)
	return doc
}

// Store is a store the projector runs on.
type Store interface {
	Processors() projection.CheckpointStore
	Documents() projection.DocumentStore
	Head(ctx context.Context) (eventstore.Position, error)
	Source(opts ...projection.PollOption) projection.Source
}

// Config is a backend's part of the benchmark.
type Config struct {
	// Store returns the store to run the projector on, holding the
	// backlog, for the sub-benchmark of one batch size.
	Store func(b *testing.B) Store
	// Raw returns the raw equivalent of a projector with the batch size:
	// a run empties RawCollection, processes the backlog and returns how
	// long that took.
	Raw func(b *testing.B, batch int) func(b *testing.B) time.Duration
	// Report, when set, reports the figures of a sub-benchmark (b.Logf's
	// line otherwise), beside its metrics raw-events/s, store-events/s and
	// ratio.
	Report func(b *testing.B, storeRate, rawRate float64, runs int)
}

// Run runs the benchmark on the backlog, a sub-benchmark per batch size
// (100, 500), the raw equivalent and the projector taking turns to go
// first.
func Run(b *testing.B, cfg Config) {
	ctx := context.Background()
	runs := 0 // processor ids are never reused: the testing package may call a benchmark again
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := cfg.Store(b)
			require.NoError(b, s.Documents().Put(ctx, RawCollection, "x", []byte(`{}`)))
			raw := cfg.Raw(b, batch)
			details := testdomain.CartDetailsProjection()
			head, err := s.Head(ctx)
			require.NoError(b, err)

			runStore := func() time.Duration {
				require.NoError(b, s.Documents().DeleteAll(ctx, testdomain.CartDetailsName))
				runs++
				p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(batch)), details,
					projection.WithProcessorID(fmt.Sprintf("bench-%d", runs)))
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				t0 := time.Now()
				go func() { done <- p.Run(runCtx) }()
				if err := p.WaitFor(ctx, head); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(t0)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				return elapsed
			}
			rawRate, storeRate, i := alternate(b, s, func() time.Duration { return raw(b) }, runStore)
			if i == 0 {
				return
			}
			b.ReportMetric(rawRate, "raw-events/s")
			b.ReportMetric(storeRate, "store-events/s")
			b.ReportMetric(storeRate/rawRate, "ratio")
			if cfg.Report != nil {
				cfg.Report(b, storeRate, rawRate, i)
			} else {
				b.Logf("batch %d: store %.0f events/s, raw %.0f events/s, ratio %.2f (store throughput / raw throughput)", batch, storeRate, rawRate, storeRate/rawRate)
			}
		})
	}
}

// RunPolicies is the benchmark of failure policies (BenchmarkCatchUpFailurePolicy):
// a projector catching up on the backlog (CatchUp, batches of 500) with
// the default policy, StopOnFailure, and with ParkOnFailure, no event
// failing, the two taking turns to go first; a fresh processor id each
// time. It reports stop-events/s, park-events/s and their ratio.
func RunPolicies(b *testing.B, s Store) {
	ctx := context.Background()
	details := testdomain.CartDetailsProjection()
	runs := 0
	run := func(policy projection.FailurePolicy) time.Duration {
		require.NoError(b, s.Documents().DeleteAll(ctx, testdomain.CartDetailsName))
		runs++
		p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(500)), details,
			projection.WithProcessorID(fmt.Sprintf("policy-%s-%d", policy, runs)), projection.WithFailurePolicy(policy))
		t0 := time.Now()
		if err := p.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(t0)
		parked, err := p.Parked(ctx)
		require.NoError(b, err)
		require.Empty(b, parked, "no event fails")
		return elapsed
	}
	stopRate, parkRate, i := alternate(b, s,
		func() time.Duration { return run(projection.StopOnFailure) },
		func() time.Duration { return run(projection.ParkOnFailure) })
	if i == 0 {
		return
	}
	b.ReportMetric(stopRate, "stop-events/s")
	b.ReportMetric(parkRate, "park-events/s")
	b.ReportMetric(parkRate/stopRate, "ratio")
	b.Logf("catch-up: stop %.0f events/s, park %.0f events/s, ratio %.3f (park / stop), %d runs each", stopRate, parkRate, parkRate/stopRate, i)
}

// alternate runs first and second (each a pass over the backlog, returning
// its time) once per iteration of b.Loop, taking turns to go first, checks
// that the cart details read model then has every cart, and returns their
// throughputs in events per second and the number of iterations.
func alternate(b *testing.B, s Store, first, second func() time.Duration) (firstRate, secondRate float64, n int) {
	var firstTime, secondTime time.Duration
	for b.Loop() {
		if n%2 == 0 {
			firstTime += first()
			secondTime += second()
		} else {
			secondTime += second()
			firstTime += first()
		}
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	docs, err := s.Documents().Count(context.Background(), testdomain.CartDetailsName, projection.Query{})
	require.NoError(b, err)
	require.Equal(b, int64(Carts), docs, "every cart has its document")
	perSec := func(d time.Duration) float64 { return float64(Events) * float64(n) / d.Seconds() }
	return perSec(firstTime), perSec(secondTime), n
}
