package postgres_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupRebalanceMidBatch moves a processor from one instance to
// another while its batch on the first is in the middle (written, not
// committed) and stuck in a handler that does not heed cancellation: the
// second instance does not run the processor until the first has let it
// go, the first's batch is rolled back, and the second applies the events
// once.
func TestGroupRebalanceMidBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := newMigratedDatabase(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, withPoolSize(db, 16))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sa, sb := open(), open() // two instances, each with a pool of its own
	_, err := sa.Pool().Exec(ctx, createAppliedSQL)
	require.NoError(t, err)
	for i := range 200 {
		projectiontest.Append(t, sa, "counter-"+string(rune('a'+i%7)), projectiontest.Incremented{By: i%5 + 1})
	}

	ids := []string{"group_counters_1", "group_counters_2"}
	moving := projection.Assign([]projection.Instance{{ID: "instance-a", Processors: ids}, {ID: "instance-b", Processors: ids}})["instance-b"][0]
	staying := ids[0]
	if staying == moving {
		staying = ids[1]
	}
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	processors := func(s *postgres.Store, stall bool) []*projection.Processor {
		var ps []*projection.Processor
		for i := range ids {
			p := projectiontest.GroupCounters(i + 1)
			tl := tallied{Projection: p, processor: p.Name()}
			if stall && p.Name() == moving {
				tl.written = func(string) {
					once.Do(func() {
						close(stalled)
						<-release // heedless of cancellation
					})
				}
			}
			ps = append(ps, projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(50)), tl))
		}
		return ps
	}
	run := func(g *projection.Group) {
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- g.Run(gctx) }()
		t.Cleanup(func() {
			cancel()
			assert.NoError(t, <-done)
		})
	}
	const ttl = time.Second
	a := projection.NewGroup(sa.Membership(), "counters-app", processors(sa, true), projection.WithInstanceID("instance-a"), projection.WithInstanceTTL(ttl))
	run(a)
	<-stalled

	bProcs := processors(sb, false)
	b := projection.NewGroup(sb.Membership(), "counters-app", bProcs, projection.WithInstanceID("instance-b"), projection.WithInstanceTTL(ttl))
	run(b)
	waitUntil(t, "the processor assigned to instance-b", func() bool {
		return slices.Equal(a.Assigned(), []string{staying}) && slices.Equal(b.Assigned(), []string{moving})
	})
	time.Sleep(2 * ttl) // several heartbeats: instance-b waits for the lock meanwhile
	assert.Equal(t, []string{moving}, b.Assigned())
	assert.Equal(t, []string{staying}, a.Assigned())
	assert.NotContains(t, b.Running(), moving, "not while instance-a's batch is in the middle")
	assert.Len(t, a.Running(), 2, "instance-a still runs its share and the processor it is letting go: one more")

	close(release)
	waitUntil(t, "instance-b runs the processor", func() bool { return slices.Equal(b.Running(), []string{moving}) })
	// Head and the replay on a store of the package's readAllWait: not
	// short of the log at another test's open transaction.
	check, err := postgres.Open(ctx, db, postgres.WithReadAllWait(readAllWait))
	require.NoError(t, err)
	t.Cleanup(func() { _ = check.Close() })
	head, err := check.Head(ctx)
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, p := range bProcs {
		require.NoError(t, p.WaitFor(wctx, head))
	}
	requireAppliedOnce(t, sa, len(ids))
	for _, id := range ids {
		projectiontest.RequireCountersMatchReplay(t, check, id)
	}
	var checkpoint eventstore.Position
	checkpoint, _, err = sa.Processors().ReadCheckpoint(ctx, moving)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, checkpoint.Compare(head), 0)
}
