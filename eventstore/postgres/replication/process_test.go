package replication_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/internal/childproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The process tests run the processor in child processes (this test binary
// again, told by environment variables) and kill them with SIGKILL in the
// middle of a batch. A child prints:
//
//	started               before it asks for the processor's lock
//	running               once it holds it
//	batch <n> <kind>      when its n-th batch of that kind (history or
//	                      stream) starts, with events
//	mid <n> <kind>        when half of that batch is written, uncommitted;
//	                      in the batch it was told to, it then hangs
const (
	childEnv      = "EMMETT_REPLICATION_CHILD" // the database's URL
	childStallEnv = "EMMETT_REPLICATION_STALL" // "<kind>:<n>": hang in that batch
	childDelayEnv = "EMMETT_REPLICATION_DELAY" // a pause in every batch
	childBatch    = 100
)

func childMain() int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	s, err := postgres.Open(ctx, os.Getenv(childEnv))
	if err != nil {
		return fail(err)
	}
	tl, err := createTally(ctx, s.Pool(), "counters")
	if err != nil {
		return fail(err)
	}
	tl.delay, _ = time.ParseDuration(os.Getenv(childDelayEnv))
	stallKind, stallAt, _ := strings.Cut(os.Getenv(childStallEnv), ":")
	stallN, _ := strconv.Atoi(stallAt)
	src, err := replication.NewSource(s, "counters", replication.WithBatchSize(childBatch))
	if err != nil {
		return fail(err)
	}
	var mu sync.Mutex
	var kind string
	counts := map[string]int{}
	tl.hook = func(ctx context.Context, events []emmett.RecordedEvent) error {
		mu.Lock()
		k, n := kind, counts[kind]
		mu.Unlock()
		fmt.Println("mid", n, k)
		if k == stallKind && n == stallN {
			select {} // hang, uncommitted, until killed
		}
		return nil
	}
	watched := &watchedSource{Source: src, batch: func(b projection.Batch) {
		if len(b.Events) == 0 {
			return
		}
		k := "stream"
		if b.End.LSN == replication.HistoryLSN {
			k = "history"
		}
		mu.Lock()
		kind = k
		counts[k]++
		n := counts[k]
		mu.Unlock()
		fmt.Println("batch", n, k)
	}}
	p := projection.NewProjectionProcessor(s.Processors(), watched, tl)
	fmt.Println("started")
	go func() {
		for {
			if _, ok := p.Checkpoint(); ok {
				fmt.Println("running")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if err := p.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// watchedSource calls batch before handing each batch on.
type watchedSource struct {
	*replication.Source
	batch func(projection.Batch)
}

func (w *watchedSource) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	return w.Source.Subscribe(ctx, after, func(ctx context.Context, b projection.Batch) error {
		w.batch(b)
		return handle(ctx, b)
	})
}

// A processor process killed with SIGKILL in the middle of a batch, first
// while it reads the history, then while it follows the stream: a second
// instance waiting for the lock takes over within a second and resumes in
// the same snapshot, and the read model ends equal to a fresh replay.
func TestKilledMidBatchAndTakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newDatabase(t)
	s := openStore(t, url)
	backlog := 2000
	if testing.Short() {
		backlog = 800
	}
	for i := 0; i < backlog; {
		n := min(1+i%4, backlog-i)
		appendTo(t, s, fmt.Sprintf("counter-%d", i%37), n)
		i += n
	}
	src := newSource(t, s, "counters") // to drop the slot at the end

	first := startChild(t, url, "history:4", 5*time.Millisecond)
	first.Expect(t, "running")
	second := startChild(t, url, "stream:2", 5*time.Millisecond)
	second.Expect(t, "started")
	first.Expect(t, "mid 4 history")
	assert.Empty(t, second.Seen("running"), "the second instance waits while the first runs")
	cp, _, err := s.Processors().ReadCheckpoint(ctx, "counters")
	require.NoError(t, err)
	assert.Equal(t, uint64(replication.HistoryLSN), cp.LSN, "the first instance checkpointed inside the history: %s", cp)

	first.Kill(t)
	killed := time.Now()
	second.Expect(t, "running")
	takeover := time.Since(killed)
	second.Expect(t, "batch 1 history") // it goes on in the first one's snapshot
	t.Logf("the second instance took over %v after the kill", takeover.Round(time.Millisecond))

	// The stream: appends while the second instance follows them, killed
	// in its second batch of the stream.
	appended := make(chan error, 1)
	go func() {
		for i := range 300 {
			if _, err := s.AppendToStream(ctx, fmt.Sprintf("counter-%d", i%41), increments(1+i%3)); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	second.Expect(t, "mid 2 stream")
	second.Kill(t)
	killed = time.Now()
	cp, _, err = s.Processors().ReadCheckpoint(ctx, "counters")
	require.NoError(t, err)
	assert.Greater(t, cp.LSN, uint64(replication.HistoryLSN), "the second instance checkpointed on the stream: %s", cp)

	tl := newTally(t, s.Pool(), "counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	start(t, p)
	require.Eventually(t, func() bool { _, ok := p.Checkpoint(); return ok }, waitLimit, time.Millisecond)
	t.Logf("an instance in the test took over %v after the second kill", time.Since(killed).Round(time.Millisecond))
	require.NoError(t, <-appended)
	head, err := src.Head(ctx)
	require.NoError(t, err)
	waitFor(t, p, head)
	requireEqualReplay(t, s, tl)
}

func startChild(t *testing.T, url, stall string, delay time.Duration) *childproc.Child {
	t.Helper()
	return childproc.Start(t, []string{childEnv + "=" + url, childStallEnv + "=" + stall, childDelayEnv + "=" + delay.String()}, "-test.run=^$")
}
