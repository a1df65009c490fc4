package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// groupStore opens a store with inline counters on a pool of one
// connection, with counter-0 to counter-<n-1> appended once (By 1).
func groupStore(t *testing.T, name string, n int) (*postgres.Store, *pgxpool.Pool, *projection.DocumentProjection[projectiontest.Counter, projectiontest.Event]) {
	t.Helper()
	return groupStoreWith(t, projectiontest.Counters(name), n)
}

func groupStoreWith(t *testing.T, counters *projection.DocumentProjection[projectiontest.Counter, projectiontest.Event], n int) (*postgres.Store, *pgxpool.Pool, *projection.DocumentProjection[projectiontest.Counter, projectiontest.Event]) {
	t.Helper()
	s, pool := groupStoreOf(t, n, counters)
	return s, pool, counters
}

// groupStoreOf opens a store with inline projections on a pool of one
// connection, with counter-0 to counter-<n-1> appended once (By 1).
func groupStoreOf(t *testing.T, n int, projections ...projection.Projection) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(newMigratedDatabase(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := postgres.New(ctx, pool, postgres.WithProjections(projections...))
	require.NoError(t, err)
	for i := range n {
		projectiontest.Append(t, s, fmt.Sprintf("counter-%d", i), projectiontest.Incremented{By: 1})
	}
	return s, pool
}

type groupAppend struct {
	stream string
	event  projectiontest.Event
	opts   []eventstore.AppendOption
	res    eventstore.AppendResult
	err    error
}

// appendTogether holds the pool's one connection, starts the appends
// together, waits until waiting of them wait in the group of the one that
// waits for the connection, then lets the connection go and waits for
// every append.
func appendTogether(t *testing.T, s *postgres.Store, pool *pgxpool.Pool, waiting int, appends []*groupAppend) {
	t.Helper()
	ctx := context.Background()
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range appends {
		wg.Go(func() {
			<-start
			data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{a.event}, emmett.Metadata{})
			if err != nil {
				a.err = err
				return
			}
			a.res, a.err = s.AppendToStream(ctx, a.stream, data, a.opts...)
		})
	}
	close(start)
	require.Eventually(t, func() bool { return s.GroupWaiting() == waiting }, 10*time.Second, time.Millisecond,
		"%d appends wait in the group", waiting)
	held.Release()
	wg.Wait()
}

// Appends that wait for a connection share one transaction: each is
// stored with its inline projections' documents, as alone, and one whose
// expected version does not hold gets its conflict, with the stream's
// version, without failing the others.
func TestAppendsWaitingForAConnectionShareATransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool, counters := groupStore(t, "group_counters", 6)
	var appends []*groupAppend
	for i := range 6 {
		a := &groupAppend{stream: fmt.Sprintf("counter-%d", i), event: projectiontest.Incremented{By: 10 * i},
			opts: []eventstore.AppendOption{eventstore.ExpectVersion(1)}}
		if i == 3 {
			a.opts = []eventstore.AppendOption{eventstore.ExpectVersion(7)}
		}
		appends = append(appends, a)
	}
	appendTogether(t, s, pool, len(appends), appends)

	txs := map[uint64]bool{}
	for i, a := range appends {
		if i == 3 {
			var conflict *eventstore.VersionConflictError
			require.ErrorAs(t, a.err, &conflict)
			assert.Equal(t, int64(1), conflict.Actual)
			continue
		}
		require.NoError(t, a.err, a.stream)
		assert.Equal(t, int64(2), a.res.NextExpectedVersion, a.stream)
		txs[a.res.Events[0].TransactionID] = true
	}
	assert.Len(t, txs, 1, "one transaction")
	docs := counters.Collection(s.Documents())
	for i := range 6 {
		c, found, err := docs.Get(ctx, fmt.Sprintf("counter-%d", i))
		require.NoError(t, err)
		require.True(t, found)
		want := 1 + 10*i
		if i == 3 {
			want = 1
		}
		assert.Equal(t, want, c.Total, "counter-%d", i)
	}
	var events []emmett.RecordedEvent
	for e, err := range s.ReadStream(ctx, "counter-5") {
		require.NoError(t, err)
		events = append(events, e)
	}
	require.Len(t, events, 2)
	assert.Equal(t, appends[5].res.Events[0].GlobalPosition, events[1].GlobalPosition)
}

// An append that fails in a group (here its statement, in a partition
// that does not exist) fails alone: the group is rolled back and each of
// its appends runs on its own.
func TestAnAppendFailingInAGroupFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool, counters := groupStore(t, "group_failing", 4)
	appends := []*groupAppend{
		{stream: "counter-0", event: projectiontest.Incremented{By: 5}},
		{stream: "counter-1", event: projectiontest.Tagged{Tag: "x"}, opts: []eventstore.AppendOption{eventstore.InPartition("missing")}},
		{stream: "counter-2", event: projectiontest.Incremented{By: 7}},
		{stream: "counter-3", event: projectiontest.Incremented{By: 9}},
	}
	appendTogether(t, s, pool, len(appends), appends)
	require.ErrorIs(t, appends[1].err, postgres.ErrPartitionNotFound)
	docs := counters.Collection(s.Documents())
	for i, want := range map[int]int{0: 6, 1: 1, 2: 8, 3: 10} {
		if i != 1 {
			require.NoError(t, appends[i].err, appends[i].stream)
		}
		c, found, err := docs.Get(ctx, fmt.Sprintf("counter-%d", i))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, want, c.Total, "counter-%d", i)
		assert.Empty(t, c.Tags, "counter-%d", i)
	}
	v, _, err := s.StreamVersion(ctx, "counter-1")
	require.NoError(t, err)
	assert.Equal(t, int64(1), v, "nothing of the failed append was stored")
}

// Appends to one stream never share a group: each sees the one before
// it.
func TestAppendsToOneStreamDoNotShareAGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool, counters := groupStore(t, "group_one_stream", 2)
	appends := []*groupAppend{
		{stream: "counter-0", event: projectiontest.Incremented{By: 2}, opts: []eventstore.AppendOption{eventstore.ExpectVersion(1)}},
		{stream: "counter-0", event: projectiontest.Incremented{By: 3}, opts: []eventstore.AppendOption{eventstore.ExpectVersion(1)}},
		{stream: "counter-1", event: projectiontest.Incremented{By: 4}},
	}
	appendTogether(t, s, pool, 2, appends)
	failed := 0
	for _, a := range appends[:2] {
		if a.err != nil {
			require.ErrorIs(t, a.err, eventstore.ErrVersionConflict)
			failed++
		}
	}
	assert.Equal(t, 1, failed, "one of the two appends to counter-0 wins")
	require.NoError(t, appends[2].err)
	docs := counters.Collection(s.Documents())
	c, _, err := docs.Get(ctx, "counter-0")
	require.NoError(t, err)
	assert.Contains(t, []int{3, 4}, c.Total)
	c, _, err = docs.Get(ctx, "counter-1")
	require.NoError(t, err)
	assert.Equal(t, 5, c.Total)
}

// A leader whose context ends while it waits for the connection stores
// nothing, and leaves the appends of its group to wait on their own.
func TestAGroupBreaksUpWhenItsLeaderGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool, counters := groupStore(t, "group_leader", 2)
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	leaderCtx, cancel := context.WithCancel(ctx)
	leader := startAppend(leaderCtx, s, "counter-0", projectiontest.Incremented{By: 2})
	require.Eventually(t, func() bool { return s.GroupWaiting() == 1 }, 10*time.Second, time.Millisecond)
	follower := startAppend(ctx, s, "counter-1", projectiontest.Incremented{By: 3})
	require.Eventually(t, func() bool { return s.GroupWaiting() == 2 }, 10*time.Second, time.Millisecond)
	cancel()
	err, _ = (<-leader).(error)
	require.ErrorIs(t, err, context.Canceled)
	select {
	case err := <-follower:
		t.Fatalf("the follower ended without a connection: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	held.Release()
	assert.Nil(t, <-follower)
	docs := counters.Collection(s.Documents())
	for stream, want := range map[string]int{"counter-0": 1, "counter-1": 4} {
		c, _, err := docs.Get(ctx, stream)
		require.NoError(t, err)
		assert.Equal(t, want, c.Total, stream)
	}
}

// startAppend appends one event in a goroutine of its own, which recovers
// a panic of the append into the result.
func startAppend(ctx context.Context, s *postgres.Store, stream string, ev projectiontest.Event) <-chan any {
	done := make(chan any, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Sprint("panic: ", p)
			}
		}()
		data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{ev}, emmett.Metadata{})
		if err == nil {
			_, err = s.AppendToStream(ctx, stream, data)
		}
		done <- err
	}()
	return done
}

// A member whose context ends while its group waits (here for another
// transaction's lock on the leader's stream, held until the member has
// returned) gives up at once: the group
// breaks up, and the others run on their own.
func TestAGroupDoesNotHoldAMemberThatGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool, counters := groupStore(t, "group_stalled", 2)
	admin := adminPool(t, pool.Config().ConnString())
	lockTx, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = lockTx.Exec(ctx, `SELECT 1 FROM emt_streams WHERE stream_id = 'counter-0' FOR UPDATE`)
	require.NoError(t, err)
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	leader := startAppend(ctx, s, "counter-0", projectiontest.Incremented{By: 2})
	require.Eventually(t, func() bool { return s.GroupWaiting() == 1 }, 10*time.Second, time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	begin := time.Now()
	follower := startAppend(short, s, "counter-1", projectiontest.Incremented{By: 3})
	require.Eventually(t, func() bool { return s.GroupWaiting() == 2 }, 10*time.Second, time.Millisecond)
	held.Release()
	err, _ = (<-follower).(error)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(begin), 10*time.Second, "the follower did not wait for the lock")
	require.NoError(t, lockTx.Rollback(ctx))
	err, _ = (<-leader).(error)
	require.NoError(t, err)
	docs := counters.Collection(s.Documents())
	for stream, want := range map[string]int{"counter-0": 3, "counter-1": 1} {
		c, _, err := docs.Get(ctx, stream)
		require.NoError(t, err)
		assert.Equal(t, want, c.Total, stream)
	}
}

// panicky is a counters projection whose evolve panics on a Tagged
// "panic" event.
func panicky(name string) *projection.DocumentProjection[projectiontest.Counter, projectiontest.Event] {
	return projection.SingleStream(name, projectiontest.Events,
		func(doc *projectiontest.Counter, e emmett.Recorded[projectiontest.Event]) *projectiontest.Counter {
			if tag, ok := e.Event.(projectiontest.Tagged); ok && tag.Tag == "panic" {
				panic("boom")
			}
			if doc == nil {
				doc = &projectiontest.Counter{}
			}
			if inc, ok := e.Event.(projectiontest.Incremented); ok {
				doc.Total += inc.By
			}
			return doc
		})
}

// A panic of a member's projections, the leader's or another's, goes on
// in that member's goroutine; the others are stored on their own, and the
// connection goes back to the pool.
func TestAPanicInAGroupIsItsAppends(t *testing.T) {
	t.Parallel()
	for _, leaderPanics := range []bool{false, true} {
		t.Run(fmt.Sprintf("leader panics %v", leaderPanics), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, pool, counters := groupStoreWith(t, panicky(fmt.Sprintf("group_panics_%v", leaderPanics)), 3)
			held, err := pool.Acquire(ctx)
			require.NoError(t, err)
			appends := []struct {
				stream string
				event  projectiontest.Event
			}{{"counter-0", projectiontest.Incremented{By: 2}}, {"counter-1", projectiontest.Tagged{Tag: "panic"}}, {"counter-2", projectiontest.Incremented{By: 4}}}
			if leaderPanics {
				appends[0], appends[1] = appends[1], appends[0]
			}
			done := map[string]<-chan any{}
			for i, a := range appends {
				done[a.stream] = startAppend(ctx, s, a.stream, a.event)
				require.Eventually(t, func() bool { return s.GroupWaiting() == i+1 }, 10*time.Second, time.Millisecond)
			}
			held.Release()
			assert.Equal(t, "panic: boom", <-done["counter-1"])
			assert.Nil(t, <-done["counter-0"])
			assert.Nil(t, <-done["counter-2"])
			docs := counters.Collection(s.Documents())
			for stream, want := range map[string]int{"counter-0": 3, "counter-1": 1, "counter-2": 5} {
				c, _, err := docs.Get(ctx, stream)
				require.NoError(t, err)
				assert.Equal(t, want, c.Total, stream)
			}
			v, _, err := s.StreamVersion(ctx, "counter-1")
			require.NoError(t, err)
			assert.Equal(t, int64(1), v)
			assert.Zero(t, pool.Stat().AcquiredConns(), "every connection back in the pool")
		})
	}
}

// Two projections writing one collection read its documents once per
// append, alone or in a group, and each sees the other's writes.
func TestTwoProjectionsOfOneCollectionInAGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := panicky("group_shared")
	second := projection.SingleStream("second", projectiontest.Events,
		func(doc *projectiontest.Counter, e emmett.Recorded[projectiontest.Event]) *projectiontest.Counter {
			if doc == nil {
				doc = &projectiontest.Counter{}
			}
			if inc, ok := e.Event.(projectiontest.Incremented); ok {
				doc.Total += 100 * inc.By
			}
			return doc
		}, projection.WithCollection("group_shared"))
	s, pool := groupStoreOf(t, 3, first, second)
	projectiontest.Append(t, s, "counter-0", projectiontest.Incremented{By: 1}) // alone, the collection known
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	a := startAppend(ctx, s, "counter-1", projectiontest.Incremented{By: 2})
	require.Eventually(t, func() bool { return s.GroupWaiting() == 1 }, 10*time.Second, time.Millisecond)
	b := startAppend(ctx, s, "counter-2", projectiontest.Incremented{By: 3})
	require.Eventually(t, func() bool { return s.GroupWaiting() == 2 }, 10*time.Second, time.Millisecond)
	held.Release()
	assert.Nil(t, <-a)
	assert.Nil(t, <-b)
	docs := first.Collection(s.Documents())
	for stream, want := range map[string]int{"counter-0": 202, "counter-1": 303, "counter-2": 404} {
		c, _, err := docs.Get(ctx, stream)
		require.NoError(t, err)
		assert.Equal(t, want, c.Total, stream)
	}
}
