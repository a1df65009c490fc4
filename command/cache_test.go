package command_test

import (
	"context"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reads records where each stream read started and how many events it
// returned.
type reads struct {
	eventstore.Store
	mu   sync.Mutex
	from []int64 // the first stream position asked for, 1 for the whole stream
	got  []int
}

func (s *reads) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	from := backend.ResolveRead(opts...).From
	return func(yield func(emmett.RecordedEvent, error) bool) {
		n := 0
		defer func() {
			s.mu.Lock()
			s.from, s.got = append(s.from, from), append(s.got, n)
			s.mu.Unlock()
		}()
		for e, err := range s.Store.ReadStream(ctx, stream, opts...) {
			if err == nil {
				n++
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func (s *reads) last() (from int64, got int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.from[len(s.from)-1], s.got[len(s.got)-1]
}

func (s *reads) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.from)
}

func TestStateCacheDecidesWithoutReading(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10))

	for i := range 5 {
		res, err := h.Handle(ctx, "account-1", Deposit{10})
		require.NoError(t, err)
		assert.Equal(t, 10*(i+1), res.State)
		assert.Equal(t, 1, s.count(), "only the first command reads the stream; the others decide on the cached state")
	}

	// Another writer (another process) appends: the next command decides
	// on the cached state, its append finds the stream moved on, and it
	// reads what it missed and decides again on the current state.
	deposit(t, s, "account-1", 1000)
	res, err := h.Handle(ctx, "account-1", Withdraw{1040})
	require.NoError(t, err)
	from, got := s.last()
	assert.Equal(t, 2, s.count())
	assert.Equal(t, int64(6), from, "read after the cached version")
	assert.Equal(t, 1, got, "the other writer's event")
	assert.Equal(t, 10, res.State)
	assert.Equal(t, int64(7), res.NextExpectedVersion)
	stored, err := aggregate.Load(ctx, s.Store, events, "account-1", decider.Evolve, decider.InitialState)
	require.NoError(t, err)
	assert.Equal(t, aggregate.State[int]{State: 10, Version: 7, Exists: true}, stored)
}

// A rejection (or a decision of nothing) is not checked by an append:
// the handler reads what was appended since the cached state before it
// answers.
func TestStateCacheRejectionIsDecidedOnTheCurrentState(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10))
	_, err := h.Handle(ctx, "account-1", Deposit{10})
	require.NoError(t, err)

	_, err = h.Handle(ctx, "account-1", Withdraw{11})
	require.ErrorIs(t, err, errInsufficient)
	from, got := s.last()
	assert.Equal(t, []any{2, int64(2), 0}, []any{s.count(), from, got}, "the rejection stands once the stream is read past the cached version")

	deposit(t, s, "account-1", 1000) // another writer
	res, err := h.Handle(ctx, "account-1", Withdraw{500})
	require.NoError(t, err, "the cached state rejects it, the current state does not")
	assert.Equal(t, 510, res.State)
	assert.Equal(t, int64(3), res.NextExpectedVersion)

	res, err = h.Handle(ctx, "account-1", Noop{})
	require.NoError(t, err)
	assert.Equal(t, 510, res.State)
	assert.Equal(t, int64(3), res.NextExpectedVersion)
}

func TestStateCacheExactVersion(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10))
	_, err := h.Handle(ctx, "account-1", Deposit{10})
	require.NoError(t, err)
	deposit(t, s, "account-1", 5) // another writer: version 2

	// An If-Match of the current version, which the cached state is
	// behind: the handler reads and accepts it.
	res, err := h.Handle(ctx, "account-1", Withdraw{15}, eventstore.ExpectVersion(2))
	require.NoError(t, err)
	assert.Equal(t, 0, res.State)
	// A stale one is a conflict, as without the cache.
	_, err = h.Handle(ctx, "account-1", Deposit{1}, eventstore.ExpectVersion(2))
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
}

func TestStateCacheConflictReadsWhatItMissed(t *testing.T) {
	ctx := context.Background()
	reader := &reads{Store: memory.New()}
	s := &interfering{Store: reader}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10),
		command.WithRetry(emmett.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond}))
	_, err := h.Handle(ctx, "account-1", Deposit{100})
	require.NoError(t, err)

	// A writer slips in before the append decided on the cached state:
	// the append conflicts, the handler reads what it missed and appends.
	s.beforeAppend = func(attempt int) {
		if attempt == 2 {
			deposit(t, reader.Store, "account-1", 5)
		}
	}
	res, err := h.Handle(ctx, "account-1", Withdraw{100})
	require.NoError(t, err)
	assert.Equal(t, 5, res.State)
	assert.Equal(t, int32(3), s.appends.Load())
	reader.mu.Lock()
	assert.Equal(t, []int64{1, 2}, reader.from, "the first command's replay, then the read after the conflict")
	reader.mu.Unlock()

}

func TestStateCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(2))
	for _, stream := range []string{"a-1", "b-1", "a-1", "c-1"} { // c evicts b, used less recently than a
		_, err := h.Handle(ctx, stream, Deposit{1})
		require.NoError(t, err)
	}
	n := s.count()
	_, err := h.Handle(ctx, "a-1", Deposit{1})
	require.NoError(t, err)
	assert.Equal(t, n, s.count(), "a-1 is cached")
	_, err = h.Handle(ctx, "b-1", Deposit{1})
	require.NoError(t, err)
	from, _ := s.last()
	assert.Equal(t, []any{n + 1, int64(1)}, []any{s.count(), from}, "b-1 was evicted and is replayed")
}

func TestStateCacheKeysByPartition(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10))
	_, err := h.Handle(ctx, "account-1", Deposit{100}, eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	res, err := h.Handle(ctx, "account-1", Deposit{1}, eventstore.InPartition("tenant-b"))
	require.NoError(t, err)
	assert.Equal(t, 1, res.State, "another partition's stream is another stream")
	from, _ := s.last()
	assert.Equal(t, int64(1), from)
}

func TestStateCacheIdempotencyKeyReplays(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10))
	first, err := h.Handle(ctx, "account-1", Deposit{100}, eventstore.WithIdempotencyKey("k1"))
	require.NoError(t, err)
	_, err = h.Handle(ctx, "account-1", Deposit{5})
	require.NoError(t, err)
	again, err := h.Handle(ctx, "account-1", Deposit{100}, eventstore.WithIdempotencyKey("k1"))
	require.NoError(t, err)
	from, _ := s.last()
	assert.Equal(t, int64(1), from, "a command with a key reads the whole stream, where its first handling is")
	assert.True(t, again.Duplicate)
	assert.Equal(t, first.Events[0].MessageID, again.Events[0].MessageID)
	assert.Equal(t, 105, again.State)
}

// Concurrent commands on one stream, each handler with its own cache (as
// instances of a service would be): every deposit counts once, and the
// states stay right.
func TestStateCacheConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	retry := command.WithRetry(emmett.RetryPolicy{MaxAttempts: 500, InitialDelay: 100 * time.Microsecond, MaxDelay: 2 * time.Millisecond})
	handlers := []*command.DeciderHandler[int, Command, Event]{
		command.NewDeciderHandler(s, decider, events, command.WithStateCache(4), retry),
		command.NewDeciderHandler(s, decider, events, command.WithStateCache(4), retry),
	}
	const writers, each = 8, 20
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			h := handlers[w%len(handlers)]
			for i := range each {
				res, err := h.Handle(ctx, "account-1", Deposit{1})
				if !assert.NoError(t, err) {
					return
				}
				// The state returned is the stream's at the version returned.
				assert.Equal(t, int(res.NextExpectedVersion), res.State, "writer %d, command %d", w, i)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, h := range handlers {
		res, err := h.Handle(ctx, "account-1", Noop{})
		require.NoError(t, err)
		assert.Equal(t, writers*each, res.State)
		assert.Equal(t, int64(writers*each), res.NextExpectedVersion)
	}
}

func TestStateCacheLoad(t *testing.T) {
	ctx := context.Background()
	s := &reads{Store: memory.New()}
	h := command.NewDeciderHandler(s, decider, events, command.WithStateCache(10))
	deposit(t, s, "account-1", 7)
	deposit(t, s, "account-1", 8)

	got, err := h.Load(ctx, "account-1", eventstore.ToVersion(1))
	require.NoError(t, err)
	assert.Equal(t, 15, got.State, "the whole stream, whatever the read options but the partition")
	assert.Equal(t, int64(2), got.Version)

	deposit(t, s, "account-1", 1)
	got, err = h.Load(ctx, "account-1")
	require.NoError(t, err)
	assert.Equal(t, 16, got.State)
	from, n := s.last()
	assert.Equal(t, []any{int64(3), 1}, []any{from, n}, "Load reads after the cached state")

	reads := s.count()
	res, err := h.Handle(ctx, "account-1", Withdraw{16})
	require.NoError(t, err)
	assert.Zero(t, res.State)
	assert.Equal(t, reads, s.count(), "a command goes on from the state Load cached")

	peeked, ok := h.Peek("account-1")
	assert.True(t, ok)
	assert.Equal(t, aggregate.State[int]{State: 0, Version: 4, Exists: true}, peeked)
	_, ok = h.Peek("account-1", eventstore.InPartition("tenant-a"))
	assert.False(t, ok)
	assert.Equal(t, reads, s.count(), "Peek reads nothing")

	other, err := h.Load(ctx, "account-1", eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	assert.False(t, other.Exists)
}
