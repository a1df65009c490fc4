package projectiontest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GroupProcessors is the number of processors of the group cases: the
// counters projections GroupCounters names.
const GroupProcessors = 6

// GroupCounters returns the projection of counters of the i-th processor
// of a group (from 1), named and kept in the collection "group_counters_<i>",
// a projection of its own, as an application's projections are.
func GroupCounters(i int) *projection.DocumentProjection[Counter, Event] {
	name := fmt.Sprintf("group_counters_%d", i)
	return projection.SingleStream(name, emmett.NewEvents[Event](Incremented{}, Tagged{}, Removed{}), evolveCounter,
		projection.WithCollection(name))
}

// RunGroup runs the cases of processors spread across instances
// (projection.Group) on a backend, in this process: three instances of a
// group of six processors, on one store, each with processors of its own
// (as separate processes have), while a writer appends. members returns
// b's Membership. The cases take a few seconds: the instances' TTL is
// short.
func RunGroup(t *testing.T, cfg Config, members func(b Backend) projection.Membership) {
	t.Helper()
	t.Run("SpreadRebalancedAfterACrashAndARestart", func(t *testing.T) {
		testGroupRebalance(t, cfg, members)
	})
}

// groupTTL is the instances' TTL in the group cases.
const groupTTL = time.Second

// groupInstance is an instance of the group under test, run in a
// goroutine.
type groupInstance struct {
	g      *projection.Group
	procs  []*projection.Processor
	cancel context.CancelFunc
	done   chan error
}

// crashing is a Membership whose Leave does nothing: an instance that
// stops leaves its row behind, to expire, as one killed would.
type crashing struct{ projection.Membership }

func (crashing) Leave(context.Context, string, string) error { return nil }

func startInstance(t *testing.T, cfg Config, b Backend, m projection.Membership, id string) *groupInstance {
	t.Helper()
	var procs []*projection.Processor
	for i := GroupProcessors; i >= 1; i-- { // in another order than the ids': the group sorts them
		procs = append(procs, projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), GroupCounters(i)))
	}
	ctx, cancel := context.WithCancel(background(t))
	in := &groupInstance{g: projection.NewGroup(m, "counters-app", procs, projection.WithInstanceID(id), projection.WithInstanceTTL(groupTTL)),
		procs: procs, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- in.g.Run(ctx) }()
	t.Cleanup(func() { in.stop(t) })
	return in
}

func (in *groupInstance) stop(t *testing.T) {
	t.Helper()
	in.cancel()
	select {
	case err, ok := <-in.done:
		if ok {
			require.NoError(t, err)
			close(in.done)
		}
	case <-time.After(waitLimit):
		t.Fatal("the group did not stop")
	}
}

// waitSpread waits until the instances run want processors (the counts
// in ascending order, whichever instance runs which), every
// processor on one of them, and fails the test if an instance runs more
// than most meanwhile. It returns how long it waited.
func waitSpread(t *testing.T, instances []*groupInstance, want []int, most int) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(waitLimit)
	for {
		var counts []int
		var all []string
		for _, in := range instances {
			r := in.g.Running()
			require.LessOrEqual(t, len(r), most, "instance %s runs %v", in.g.InstanceID(), r)
			counts = append(counts, len(r))
			all = append(all, r...)
		}
		slices.Sort(all)
		slices.Sort(counts)
		if slices.Equal(counts, want) && len(slices.Compact(all)) == GroupProcessors {
			return time.Since(start)
		}
		select {
		case <-deadline:
			t.Fatalf("the instances run %v processors, not %v", counts, want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func testGroupRebalance(t *testing.T, cfg Config, members func(b Backend) projection.Membership) {
	b := cfg.New(t)
	m := members(b)
	stopWriter, _ := appendUntilStopped(t, b, func(i int) (string, Event) {
		time.Sleep(2 * time.Millisecond) // a steady trickle, not a flood
		return fmt.Sprintf("counter-%d", i%13), Incremented{By: i%5 + 1, Group: fmt.Sprint("g", i%3)}
	})
	a := startInstance(t, cfg, b, m, "instance-a")
	crashed := startInstance(t, cfg, b, crashing{m}, "instance-b")
	c := startInstance(t, cfg, b, m, "instance-c")
	// The first to start runs all six until the others join.
	took := waitSpread(t, []*groupInstance{a, crashed, c}, []int{2, 2, 2}, GroupProcessors)
	t.Logf("3 instances run 2 processors each, %v after they started", took.Round(time.Millisecond))

	crashed.stop(t) // its row stays until it expires
	took = waitSpread(t, []*groupInstance{a, c}, []int{3, 3}, 3)
	t.Logf("the 2 others run the crashed instance's processors %v after it stopped (TTL %v)", took.Round(time.Millisecond), groupTTL)
	assert.Less(t, took, 10*groupTTL, "taken over within the bound (TTL and a heartbeat), with slack for a loaded machine")

	back := startInstance(t, cfg, b, m, "instance-b")
	took = waitSpread(t, []*groupInstance{a, back, c}, []int{2, 2, 2}, 3)
	t.Logf("rebalanced to 2/2/2 %v after the instance came back", took.Round(time.Millisecond))

	left := startInstance(t, cfg, b, m, "instance-d")
	waitSpread(t, []*groupInstance{a, back, c, left}, []int{1, 1, 2, 2}, 3)
	left.stop(t) // it leaves: its row goes with it
	took = waitSpread(t, []*groupInstance{a, back, c}, []int{2, 2, 2}, 3)
	t.Logf("rebalanced to 2/2/2 %v after a fourth instance left", took.Round(time.Millisecond))

	stopWriter()
	head, err := cfg.Source(b).Head(background(t))
	require.NoError(t, err)
	for _, p := range a.procs {
		waitFor(t, p, head)
	}
	for _, in := range []*groupInstance{a, back, c} {
		in.stop(t)
	}
	for i := 1; i <= GroupProcessors; i++ {
		RequireCountersMatchReplay(t, b, fmt.Sprintf("group_counters_%d", i))
	}
}
