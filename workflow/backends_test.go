package workflow_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/childproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A backend makes fresh stores (a database, named by a string) and opens
// them, as many times as asked: several instances of an application on
// one database.
type backend struct {
	name string
	// fresh returns the name of a new, empty database.
	fresh func(t testing.TB) string
	// open opens a database, closed when the test ends.
	open func(t testing.TB, db string) workflow.Store
	// processes reports whether the database outlives a process, so that
	// a child process can be killed in the middle of its work.
	processes bool
}

// memoryStores are the memory backend's databases, by name;
// memoryDatabases counts them.
var (
	memoryStores    sync.Map
	memoryDatabases atomic.Int64
)

var backends = []backend{
	{
		name:  "memory",
		fresh: func(t testing.TB) string { return fmt.Sprint(t.Name(), "#", memoryDatabases.Add(1)) },
		open: func(t testing.TB, db string) workflow.Store {
			s, _ := memoryStores.LoadOrStore(db, memory.New())
			return s.(*memory.Store)
		},
	},
	{
		name:      "sqlite",
		fresh:     func(t testing.TB) string { return filepath.Join(t.TempDir(), "workflow.db") },
		open:      openSQLite,
		processes: true,
	},
}

// leaseTTL is the SQLite lease of the processors' locks: how long a killed
// process keeps its lock.
const leaseTTL = 500 * time.Millisecond

func openSQLite(t testing.TB, path string) workflow.Store {
	s, err := sqlite.Open(context.Background(), path, sqlite.WithLeaseTTL(leaseTTL))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clock is a clock the tests move.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// newProcessor is checkout's processor on store, quick to poll.
func newProcessor(store workflow.Store, timeout time.Duration, r routerHooks, opts ...workflow.Option) *workflow.Processor[Input, Checkout, Output] {
	opts = append([]workflow.Option{workflow.WithSchedulePoll(50 * time.Millisecond),
		workflow.WithSource(store.Source(projection.PollInterval(20 * time.Millisecond))),
		workflow.WithProcessorOptions(projection.WithRetry(projection.DefaultBatchRetry()))}, opts...)
	return workflow.NewProcessor(store, checkout(timeout), inputs, outputs, newRouter(store, r.before, r.after), opts...)
}

type routerHooks struct {
	before, after func(context.Context, RequestPayment) error
}

func TestBackends(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("a child process")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("OrderToItsEnd", func(t *testing.T) { testOrderToItsEnd(t, b) })
			t.Run("CrashBeforeDispatch", func(t *testing.T) { testCrash(t, b, "before") })
			t.Run("CrashAfterDispatch", func(t *testing.T) { testCrash(t, b, "after") })
			t.Run("TimeoutAfterRestart", func(t *testing.T) { testTimeoutAfterRestart(t, b) })
			t.Run("FourInstances", func(t *testing.T) { testFourInstances(t, b, false) })
			t.Run("FourProcessorsWithoutALock", func(t *testing.T) { testFourInstances(t, b, true) })
		})
	}
}

// testOrderToItsEnd follows two orders: one paid, one cancelled when its
// payment timed out.
func testOrderToItsEnd(t *testing.T, b backend) {
	ctx := context.Background()
	store := b.open(t, b.fresh(t))
	var clk clock
	p := newProcessor(store, 15*time.Minute, routerHooks{}, workflow.WithClock(clk.now))

	place(t, store, "1", 30)
	place(t, store, "2", 40)
	require.NoError(t, p.CatchUp(ctx))
	assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-1"))
	assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-2"))
	assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut"}, types(t, store, "checkout-1"))

	appendInput(t, store, "order-1", PaymentReceived{OrderID: "1"})
	require.NoError(t, p.CatchUp(ctx))
	assert.Equal(t, []string{"OrderCompleted"}, types(t, store, "completed-1"))
	assert.Equal(t, []string{"OrderPlaced", "PaymentReceived"}, types(t, store, "order-1"))

	clk.advance(14 * time.Minute)
	require.NoError(t, p.CatchUp(ctx))
	assert.Empty(t, types(t, store, "cancellation-2"), "not due yet")

	clk.advance(time.Minute)
	require.NoError(t, p.CatchUp(ctx))
	assert.Equal(t, []string{"OrderCancelled"}, types(t, store, "cancellation-2"))
	assert.Empty(t, types(t, store, "cancellation-1"), "paid: its timeout changes nothing")
	assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut",
		"received PaymentReceived", "published OrderCompleted", "received PaymentTimedOut"}, types(t, store, "checkout-1"))
	assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut",
		"received PaymentTimedOut", "sent CancelOrder"}, types(t, store, "checkout-2"))
	requireNoSchedules(t, store)

	// A second processor over the same events (another id, from the
	// beginning) finds every input handled: it decides nothing again,
	// and its dispatches are no-ops.
	again := newProcessor(store, 15*time.Minute, routerHooks{}, workflow.WithProcessorID("checkout_again"), workflow.WithClock(clk.now))
	require.NoError(t, again.CatchUp(ctx))
	assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-1"))
	assert.Equal(t, []string{"OrderCompleted"}, types(t, store, "completed-1"))
	assert.Equal(t, []string{"OrderCancelled"}, types(t, store, "cancellation-2"))
	assert.Len(t, types(t, store, "checkout-2"), 5)
}

func requireNoSchedules(t testing.TB, store workflow.Store) {
	t.Helper()
	n, err := store.Documents().Count(context.Background(), workflow.SchedulesCollection, projection.Query{})
	require.NoError(t, err)
	require.Zero(t, n, "scheduled messages left")
}

// The child process: told by childEnv ("mode|backend|database") what to
// do, it runs checkout's processor and stops at a point to be killed
// there, saying so on its standard output:
//
//	dispatching   mode before: the workflow's append is done, the command not dispatched
//	dispatched    mode after: the command is handled, the checkpoint not moved
//	caught up     mode timeout: the order handled, its timeout pending
const childEnv = "EMMETT_WORKFLOW_CHILD"

func TestChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("only as a child process")
	}
	parts := strings.SplitN(spec, "|", 3)
	mode, name, db := parts[0], parts[1], parts[2]
	var store workflow.Store
	for _, b := range backends {
		if b.name == name {
			store = b.open(t, db)
		}
	}
	stall := func(line string) func(context.Context, RequestPayment) error {
		return func(context.Context, RequestPayment) error {
			fmt.Println(line)
			select {} // until killed
		}
	}
	var hooks routerHooks
	switch mode {
	case "before":
		hooks.before = stall("dispatching")
	case "after":
		hooks.after = stall("dispatched")
	}
	p := newProcessor(store, time.Second, hooks)
	require.NoError(t, p.CatchUp(context.Background()))
	fmt.Println("caught up")
	select {}
}

// crashAt runs checkout's processor until the point mode names, then
// kills it: a child process killed with SIGKILL, or in memory a processor
// stopped there.
func crashAt(t *testing.T, b backend, db, mode, line string) {
	if b.processes {
		c := childproc.Start(t, []string{childEnv + "=" + mode + "|" + b.name + "|" + db}, "-test.run=^TestChild$", "-test.count=1")
		c.Expect(t, line)
		c.Kill(t)
		return
	}
	store := b.open(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	reached := make(chan struct{})
	stall := func(ctx context.Context, _ RequestPayment) error {
		close(reached)
		<-ctx.Done()
		return ctx.Err()
	}
	var hooks routerHooks
	switch mode {
	case "before":
		hooks.before = stall
	case "after":
		hooks.after = stall
	}
	p := newProcessor(store, time.Second, hooks)
	done := make(chan error, 1)
	go func() { done <- p.CatchUp(ctx) }()
	if mode == "timeout" {
		require.NoError(t, <-done)
		cancel()
		return
	}
	<-reached
	cancel()
	require.Error(t, <-done)
}

// testCrash kills the processor between the workflow's append and the
// command's dispatch (before), or after the dispatch and before the
// checkpoint moved (after): restarted, the processor dispatches the
// command exactly once.
func testCrash(t *testing.T, b backend, mode string) {
	ctx := context.Background()
	db := b.fresh(t)
	store := b.open(t, db)
	place(t, store, "1", 30)
	crashAt(t, b, db, mode, map[string]string{"before": "dispatching", "after": "dispatched"}[mode])

	assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut"}, types(t, store, "checkout-1"),
		"the decision was recorded before the crash")
	want := map[string][]string{"before": {}, "after": {"PaymentRequested"}}[mode]
	assert.Equal(t, want, types(t, store, "payment-1"))

	p := newProcessor(store, time.Second, routerHooks{})
	require.NoError(t, p.CatchUp(ctx))
	assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-1"), "dispatched exactly once")
	assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut"}, types(t, store, "checkout-1"),
		"decided once")
}

// testTimeoutAfterRestart kills the processor while an order's timeout
// is pending: the processor started again cancels the order when the
// timeout comes.
func testTimeoutAfterRestart(t *testing.T, b backend) {
	db := b.fresh(t)
	store := b.open(t, db)
	place(t, store, "1", 30)
	crashAt(t, b, db, "timeout", "caught up")
	assert.Empty(t, types(t, store, "cancellation-1"))
	requireSchedules(t, store, 1)

	p := newProcessor(store, time.Second, routerHooks{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	eventually(t, func() bool {
		n, err := store.Documents().Count(context.Background(), workflow.SchedulesCollection, projection.Query{})
		return err == nil && n == 0
	})
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"OrderCancelled"}, types(t, store, "cancellation-1"))
	requireNoSchedules(t, store)
}

func requireSchedules(t testing.TB, store workflow.Store, n int64) {
	t.Helper()
	got, err := store.Documents().Count(context.Background(), workflow.SchedulesCollection, projection.Query{})
	require.NoError(t, err)
	require.Equal(t, n, got)
}

// testFourInstances runs checkout's processor in four instances on one
// database (each with its own connections), two of which stop half way:
// every input is handled once, every command dispatched once. Without a
// lock (unlocked: four processors of their own ids, each handling every
// input and delivering every scheduled message, at the same time), the
// same holds: only the instance streams' versions and the message ids
// derived from the inputs' keep it.
func testFourInstances(t *testing.T, b backend, unlocked bool) {
	const orders = 12
	db := b.fresh(t)
	var clk clock
	stops := make([]context.CancelFunc, 4)
	done := make(chan error, 4)
	var first workflow.Store
	for i := range stops {
		store := b.open(t, db)
		if i == 0 {
			first = store
		}
		opts := []workflow.Option{workflow.WithClock(clk.now)}
		if unlocked {
			opts = append(opts, workflow.WithProcessorID(fmt.Sprint("checkout_", i)))
		}
		p := newProcessor(store, time.Hour, routerHooks{}, opts...)
		ctx, cancel := context.WithCancel(context.Background())
		stops[i] = cancel
		go func() { done <- p.Run(ctx) }()
	}
	store := first
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
	})
	for i := range orders {
		place(t, store, fmt.Sprint(i), 10+i)
	}
	eventually(t, func() bool { return countStreams(t, store, "payment-", orders, 1) })
	stops[0]()
	stops[1]()
	for i := 0; i < orders; i += 2 {
		appendInput(t, store, fmt.Sprint("order-", i), PaymentReceived{OrderID: fmt.Sprint(i)})
	}
	eventually(t, func() bool { return countStreams(t, store, "completed-", orders, 2) })
	clk.advance(2 * time.Hour)
	eventually(t, func() bool {
		n, err := store.Documents().Count(context.Background(), workflow.SchedulesCollection, projection.Query{})
		return err == nil && n == 0
	})
	for _, stop := range stops {
		stop()
	}
	for range stops {
		require.NoError(t, <-done)
	}
	for i := range orders {
		id := fmt.Sprint(i)
		assert.Equal(t, []string{"PaymentRequested"}, types(t, store, "payment-"+id))
		if i%2 == 0 {
			assert.Equal(t, []string{"OrderCompleted"}, types(t, store, "completed-"+id))
			assert.Empty(t, types(t, store, "cancellation-"+id))
			assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut",
				"received PaymentReceived", "published OrderCompleted", "received PaymentTimedOut"}, types(t, store, "checkout-"+id))
		} else {
			assert.Equal(t, []string{"OrderCancelled"}, types(t, store, "cancellation-"+id))
			assert.Equal(t, []string{"received OrderPlaced", "sent RequestPayment", "scheduled PaymentTimedOut",
				"received PaymentTimedOut", "sent CancelOrder"}, types(t, store, "checkout-"+id))
		}
	}
}

// countStreams reports whether the streams prefix+i, for i of n stepping
// by step, each have one event.
func countStreams(t testing.TB, store workflow.Store, prefix string, n, step int) bool {
	for i := 0; i < n; i += step {
		if len(types(t, store, fmt.Sprint(prefix, i))) != 1 {
			return false
		}
	}
	return true
}

func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
