package catchupbench

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// The load of a version build under load (RunVersionBuild): Writers
// goroutines, each appending one cart event WriterRate times a second
// (300 appends a second in all), to carts of their own with the backlog's
// 5-event lifecycle, from Ramp before the build starts until version 2 is
// active.
const (
	Writers    = 2
	WriterRate = 150
	Ramp       = 500 * time.Millisecond
)

// BuildStore is a store a version build runs on: the catch-up's Store,
// and appends for the writers of the build under load.
type BuildStore interface {
	Store
	eventstore.Appender
}

// RunVersionBuild is the benchmark of building a new version of a
// projection (BenchmarkVersionBuild): a version-2 processor of the cart
// details projection (projection.WithVersion(2), on the store's Source)
// replays the log into its own collection until it has caught up and
// switched reads to version 2, measured as the backlog's events (the
// events in the log when the build starts) over the time from its start
// until projection.ActiveVersion says version 2 (read every 10 ms).
//
// Quiet: nothing else runs; version 1 caught up on the log beforehand and
// was stopped. Under load: version 1's processor, caught up beforehand,
// keeps running, and the writers append 300 cart events a second from
// Ramp before the build starts until it has switched; the events appended
// during the build are not counted, though version 2 applies them too (it
// switches only once at or past version 1's checkpoint).
//
// Each run is a fresh projection (a new name, so new collections and
// processor ids): version 1 catches up on the log, untimed, then version
// 2 is built; its version 1 is dropped (projection.DropVersion) and its
// version 2's documents deleted afterwards. The quiet build and the build
// under load take turns to go first. It reports quiet-events/s,
// load-events/s, their ratio (under load / quiet), appends/s (the
// writers' rate achieved during the builds under load) and tail-ms (the
// mean time, under load, from the build reaching the head it started at
// until version 2 is active: the events appended meanwhile, and the
// switch; at the 10 ms resolution of the polling).
//
// The processors' goroutines are labelled in CPU profiles (go test
// -cpuprofile; go tool pprof -tags, -tagfocus proc=v2-load): proc=v1,
// v2-quiet, v2-load, writer.
func RunVersionBuild(b *testing.B, s BuildStore) {
	ctx := context.Background()
	events := testdomain.Events()
	var appended atomic.Int64    // the events the writers appended, all runs
	next := make([]int, Writers) // each writer's next event, across runs
	runs := 0

	// startWriters starts the writers; stop stops them and returns the
	// first append's error.
	startWriters := func() (stop func() error) {
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		errs := make(chan error, Writers)
		for w := range Writers {
			wg.Add(1)
			go pprof.Do(ctx, pprof.Labels("proc", "writer"), func(context.Context) {
				defer wg.Done()
				t := time.NewTicker(time.Second / WriterRate)
				defer t.Stop()
				for {
					select {
					case <-wctx.Done():
						return
					case <-t.C:
					}
					c, step := next[w]/PerCart, next[w]%PerCart
					id := fmt.Sprintf("live-%d-%06d", w, c)
					data, err := eventstore.Encode(events, []testdomain.Event{cartEvent(id, c, step, time.Now().UTC())}, emmett.Metadata{})
					if err == nil {
						// Not wctx: an append cut short might have committed.
						_, err = s.AppendToStream(ctx, testdomain.StreamName(id), data)
					}
					if err != nil {
						errs <- err
						return
					}
					next[w]++
					appended.Add(1)
				}
			})
		}
		return func() error {
			cancel()
			wg.Wait()
			select {
			case err := <-errs:
				return err
			default:
				return nil
			}
		}
	}

	var loadAppends int64      // the writers' appends during builds under load
	var loadTime time.Duration // and those builds' time
	var loadTail time.Duration // and their time from reaching the head they started at until switched
	// build builds version 2 of a fresh projection, quiet or under load.
	build := func(load bool) sample {
		runs++
		name := fmt.Sprintf("cart_details_build_%d", runs)
		v1 := projection.SingleStream(name, events, testdomain.EvolveCartDetails)
		v2 := projection.SingleStream(name, events, testdomain.EvolveCartDetails, projection.WithVersion(2))

		run1 := start("v1", projection.NewProjectionProcessor(s.Processors(), s.Source(), v1))
		head, err := s.Head(ctx)
		require.NoError(b, err)
		require.NoError(b, run1.p.WaitFor(ctx, head))
		var stopWriters func() error
		if load {
			stopWriters = startWriters()
			time.Sleep(Ramp)
		} else {
			require.NoError(b, run1.stop())
		}

		backlog, before := Events+appended.Load(), appended.Load()
		head, err = s.Head(ctx) // roughly what the build catches up with first
		require.NoError(b, err)
		label := "v2-quiet"
		if load {
			label = "v2-load"
		}
		t0 := time.Now()
		run2 := start(label, projection.NewProjectionProcessor(s.Processors(), s.Source(), v2))
		reached := waitActive(b, s, name, 2, run2, head, t0)
		elapsed := time.Since(t0)
		if load {
			require.NoError(b, stopWriters())
			loadAppends += appended.Load() - before
			loadTime += elapsed
			loadTail += elapsed - reached
			require.NoError(b, run1.stop())
		}
		require.NoError(b, run2.stop())

		docs, err := s.Documents().Count(ctx, v2.CollectionName(), projection.Query{})
		require.NoError(b, err)
		require.GreaterOrEqual(b, docs, int64(Carts), "every cart of the backlog has its document in version 2")
		require.NoError(b, projection.DropVersion(ctx, s.Processors(), name, 1))
		require.NoError(b, s.Documents().DeleteAll(ctx, v2.CollectionName()))
		return sample{events: backlog, elapsed: elapsed}
	}

	var quiet, loaded sample // the builds' backlogs and times, quiet and under load
	n := 0
	for b.Loop() {
		var q, l sample
		if n%2 == 0 {
			q = build(false)
			l = build(true)
		} else {
			l = build(true)
			q = build(false)
		}
		b.Logf("run %d: quiet %.0f events/s (%d events in %v), under load %.0f events/s (%d events in %v), ratio %.2f", n+1,
			q.rate(), q.events, q.elapsed.Round(time.Millisecond), l.rate(), l.events, l.elapsed.Round(time.Millisecond), l.rate()/q.rate())
		quiet.add(q)
		loaded.add(l)
		n++
	}
	if n == 0 {
		return
	}
	appendRate := float64(loadAppends) / loadTime.Seconds()
	b.ReportMetric(quiet.rate(), "quiet-events/s")
	b.ReportMetric(loaded.rate(), "load-events/s")
	b.ReportMetric(loaded.rate()/quiet.rate(), "ratio")
	b.ReportMetric(appendRate, "appends/s")
	b.ReportMetric(float64(loadTail.Milliseconds())/float64(n), "tail-ms")
	b.Logf("version build: quiet %.0f events/s, under load %.0f events/s (%d writers, %.0f appends/s; %.0f ms from the head to the switch), ratio %.2f (under load / quiet), %d runs each",
		quiet.rate(), loaded.rate(), Writers, appendRate, float64(loadTail.Milliseconds())/float64(n), loaded.rate()/quiet.rate(), n)
}

// sample is the events of one or more builds' backlogs and their time.
type sample struct {
	events  int64
	elapsed time.Duration
}

func (s *sample) add(o sample) { s.events += o.events; s.elapsed += o.elapsed }

// rate is the sample's throughput, in events per second.
func (s sample) rate() float64 { return float64(s.events) / s.elapsed.Seconds() }

// running is a processor running in the background (start).
type running struct {
	p      *projection.Processor
	cancel context.CancelFunc
	done   chan error
}

// start runs p (Run) until stop, its goroutines labelled proc=label in
// CPU profiles.
func start(label string, p *projection.Processor) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go pprof.Do(ctx, pprof.Labels("proc", label), func(ctx context.Context) { r.done <- p.Run(ctx) })
	return r
}

// stop stops the processor and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	return <-r.done
}

// waitActive waits until version of the projection named name is the
// active one, reading it every 10 ms, and returns when r's processor
// reached head (the checkpoint it has in memory, looked at on the same
// ticks), as the time since t0. It fails b if the processor's Run returns
// first, or after 10 minutes.
func waitActive(b *testing.B, s Store, name string, version int, r *running, head eventstore.Position, t0 time.Time) (reached time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	reached = -1
	for {
		if cp, _ := r.p.Checkpoint(); reached < 0 && cp.Compare(head) >= 0 {
			reached = time.Since(t0)
		}
		v, found, err := projection.ActiveVersion(ctx, s.Processors(), name)
		require.NoError(b, err)
		if found && v.Version == version {
			if reached < 0 {
				reached = time.Since(t0)
			}
			return reached
		}
		select {
		case err := <-r.done:
			b.Fatalf("the processor of version %d of %s stopped before it was active: %v", version, name, err)
		case <-ctx.Done():
			b.Fatalf("version %d of %s is not active after 10 minutes", version, name)
		case <-t.C:
		}
	}
}
