package replication_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/require"
)

// The feeds side by side, in the same run, on the same server and the same
// projection (the tally: one upsert per stream and batch, in the
// processor's transaction):
//
//	go test -run '^$' -bench . -benchtime 1x ./eventstore/postgres/replication/
//
// BenchmarkLag appends at a steady rate (one event per append, from 4
// writers on a shared schedule) for a few seconds while a projector runs,
// and measures for each event the time from its append's return (its
// commit) to the commit of the processor's transaction that applied it.
// BenchmarkCatchUp appends a backlog, then times a fresh projector from the
// start to the head: the replication feed reads it from the table in a new
// slot's snapshot (then joins the stream), the polling feed pages through
// ReadAll.
//
// The polling feed is woken by every append made through its store: the
// best case, where the writers are in the processor's process. The
// polling_other_process variant is the case of writers in other processes
// (without LISTEN/NOTIFY, which serialises commits): it polls every 100ms
// when idle. The replication feed is the same for both.

// benchDatabase is a database for a benchmark: on the package's server
// (fsync off, synchronous_commit on), or with EMMETT_BENCH_DURABLE=1 on a
// durable server of the benchmarks' own (fsync, synchronous_commit and
// full_page_writes on, as in production).
func benchDatabase(b *testing.B) string {
	b.Helper()
	if os.Getenv("EMMETT_BENCH_DURABLE") != "1" {
		return newDatabase(b)
	}
	durable.mu.Lock()
	defer durable.mu.Unlock()
	if durable.srv == nil {
		srv, err := pgtest.StartServer(pgtest.Options{Durable: true})
		require.NoError(b, err)
		durable.srv = srv
	}
	return durable.srv.NewDatabase(b)
}

var durable struct {
	mu  sync.Mutex
	srv *pgtest.Server
}

type feed struct {
	name string
	make func(b *testing.B, s *postgres.Store, id string) projection.Source
}

var feeds = []feed{
	{"replication", func(b *testing.B, s *postgres.Store, id string) projection.Source {
		return newSource(b, s, id, replication.WithBatchSize(1000))
	}},
	{"polling", func(b *testing.B, s *postgres.Store, id string) projection.Source {
		return s.Source(projection.PollBatchSize(1000))
	}},
	// Polling as it is when the writers are other processes: nothing wakes
	// the poller, which polls every 100ms when idle.
	{"polling_other_process", func(b *testing.B, s *postgres.Store, id string) projection.Source {
		return backend.NewPollingSource(s, backend.ResolvePoll(projection.PollBatchSize(1000), projection.PollInterval(100*time.Millisecond)))
	}},
}

// timedSource records when each batch's handler returned (its transaction
// committed).
type timedSource struct {
	projection.Source
	applied func(projection.Batch, time.Time)
}

func (t *timedSource) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	return t.Source.Subscribe(ctx, after, func(ctx context.Context, b projection.Batch) error {
		if err := handle(ctx, b); err != nil {
			return err
		}
		t.applied(b, time.Now())
		return nil
	})
}

func BenchmarkLag(b *testing.B) {
	duration := 5 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	// The replication feed without keeping cuts (WithTableCatchUp(-1)):
	// what keeping them costs the lag.
	noCuts := feed{"replication_no_cuts", func(b *testing.B, s *postgres.Store, id string) projection.Source {
		return newSource(b, s, id, replication.WithBatchSize(1000), replication.WithTableCatchUp(-1))
	}}
	for _, rate := range []int{1000, 5000} {
		for _, f := range append([]feed{noCuts}, feeds...) {
			b.Run(fmt.Sprintf("%s/%d_events_per_s", f.name, rate), func(b *testing.B) {
				for range b.N {
					p50, p99, max := measureLag(b, f, rate, duration)
					b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(max.Microseconds())/1000, "max-ms")
				}
			})
		}
	}
}

func measureLag(b *testing.B, f feed, rate int, duration time.Duration) (p50, p99, maxLag time.Duration) {
	ctx := context.Background()
	s := openStore(b, benchDatabase(b))
	tl := newTally(b, s.Pool(), "lag")
	var mu sync.Mutex
	appendedAt, appliedAt := map[string]time.Time{}, map[string]time.Time{}
	batches := 0
	src := &timedSource{Source: f.make(b, s, "lag"), applied: func(batch projection.Batch, now time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if len(batch.Events) > 0 {
			batches++
		}
		for _, e := range batch.Events {
			appliedAt[e.MessageID] = now
		}
	}}
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	r := start(b, p)
	waitFor(b, p, appendTo(b, s, "warmup-1", 1).Position)

	const writers = 4
	total := rate * int(duration/time.Second)
	begin := time.Now().Add(10 * time.Millisecond)
	var wg sync.WaitGroup
	var last eventstore.Position
	for w := range writers {
		wg.Go(func() {
			for i := w; i < total; i += writers {
				if d := time.Until(begin.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
					time.Sleep(d)
				}
				res, err := s.AppendToStream(ctx, fmt.Sprintf("counter-%d", i%100), increments(1))
				if err != nil {
					b.Error(err)
					return
				}
				now := time.Now()
				mu.Lock()
				appendedAt[res.Events[0].MessageID] = now
				if last.Before(res.Position) {
					last = res.Position
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if behind := time.Since(begin) - duration; behind > duration/10 {
		b.Logf("the writers fell behind the schedule by %v", behind.Round(time.Millisecond))
	}
	head, err := src.Head(ctx)
	require.NoError(b, err)
	waitFor(b, p, head)
	require.NoError(b, r.stop(b))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(b, total, len(appendedAt))
	lags := make([]time.Duration, 0, total)
	for id, at := range appendedAt {
		applied, ok := appliedAt[id]
		require.True(b, ok, "every event was applied")
		lags = append(lags, max(applied.Sub(at), 0)) // applied before the append's return reached its writer: no lag
	}
	slices.Sort(lags)
	b.ReportMetric(float64(total)/float64(batches), "events/batch")
	q := func(f float64) time.Duration { return lags[min(int(f*float64(len(lags))), len(lags)-1)] }
	return q(0.50), q(0.99), lags[len(lags)-1]
}

func BenchmarkCatchUp(b *testing.B) {
	backlog := 1_000_000
	if testing.Short() {
		backlog = 20_000
	}
	ctx := context.Background()
	s := openStore(b, benchDatabase(b))
	appendBacklog(b, s, backlog)
	for _, f := range feeds {
		b.Run(fmt.Sprintf("%s/%d_events", f.name, backlog), func(b *testing.B) {
			for i := range b.N {
				id := fmt.Sprintf("catchup_%s_%d", f.name, i)
				tl := newTally(b, s.Pool(), id)
				src := f.make(b, s, id)
				head, err := src.Head(ctx)
				require.NoError(b, err)
				p := projection.NewProjectionProcessor(s.Processors(), src, tl)
				begin := time.Now()
				r := start(b, p)
				waitFor(b, p, head)
				elapsed := time.Since(begin)
				require.NoError(b, r.stop(b))
				b.ReportMetric(float64(backlog)/elapsed.Seconds(), "events/s")
				b.ReportMetric(elapsed.Seconds(), "s")
			}
		})
	}
}

// BenchmarkCatchUpFromWAL is the catch-up of a processor that was stopped
// while a backlog was appended, then started again: the replication feed
// reads the backlog from the table (its slot replaced by one with an
// exported snapshot, the cut of its checkpoint left out), the
// replication_from_wal variant decodes it from the WAL its slot retained
// (as the feed did before), the polling feed pages through ReadAll after
// its checkpoint. 200,000 events (20,000 under -short): the WAL of a
// million-event backlog would take longer to write than to read.
func BenchmarkCatchUpFromWAL(b *testing.B) {
	backlog := 200_000
	if testing.Short() {
		backlog = 20_000
	}
	ctx := context.Background()
	s := openStore(b, benchDatabase(b))
	// The replication feed as it was before it could catch up from the
	// table: the backlog decoded from the slot's WAL.
	fromWAL := feed{"replication_from_wal", func(b *testing.B, s *postgres.Store, id string) projection.Source {
		return newSource(b, s, id, replication.WithBatchSize(1000), replication.WithTableCatchUp(-1))
	}}
	for _, f := range []feed{fromWAL, feeds[0], feeds[1]} {
		b.Run(fmt.Sprintf("%s/%d_events", f.name, backlog), func(b *testing.B) {
			for i := range b.N {
				id := fmt.Sprintf("walcatchup_%s_%d_%d", f.name, i, time.Now().UnixNano())
				tl := newTally(b, s.Pool(), id)
				src := f.make(b, s, id)
				p := projection.NewProjectionProcessor(s.Processors(), src, tl)
				// Caught up with what is there, then stopped.
				r := start(b, p)
				head, err := src.Head(ctx)
				require.NoError(b, err)
				waitFor(b, p, head)
				require.NoError(b, r.stop(b))

				appendBacklog(b, s, backlog)
				head, err = src.Head(ctx)
				require.NoError(b, err)
				begin := time.Now()
				r = start(b, p)
				waitFor(b, p, head)
				elapsed := time.Since(begin)
				require.NoError(b, r.stop(b))
				b.ReportMetric(float64(backlog)/elapsed.Seconds(), "events/s")
				b.ReportMetric(elapsed.Seconds(), "s")
			}
		})
	}
}

// appendBacklog appends n events over 1,000 streams, 100 per append, from 4
// writers.
func appendBacklog(b *testing.B, s *postgres.Store, n int) {
	b.Helper()
	ctx := context.Background()
	const per, writers = 100, 4
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n/per; i += writers {
				if _, err := s.AppendToStream(ctx, fmt.Sprintf("counter-%d", i%1000), increments(per)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Logf("appended a backlog of %d events in %v", n, time.Since(begin).Round(time.Millisecond))
}
