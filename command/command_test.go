package command_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/emmett-go/emmett/aggregate"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Event interface{ isEvent() }
type Deposited struct{ Amount int }
type Withdrawn struct{ Amount int }

func (Deposited) isEvent() {}
func (Withdrawn) isEvent() {}

type Command interface{ isCommand() }
type Deposit struct{ Amount int }
type Withdraw struct{ Amount int }
type Noop struct{}

func (Deposit) isCommand()  {}
func (Withdraw) isCommand() {}
func (Noop) isCommand()     {}

var errInsufficient = fmt.Errorf("%w: insufficient funds", emmett.ErrIllegalState)

var events = emmett.NewEvents[Event](Deposited{}, Withdrawn{})

var decider = emmett.Decider[int, Command, Event]{
	Decide: func(c Command, balance int) ([]Event, error) {
		switch c := c.(type) {
		case Deposit:
			return []Event{Deposited{c.Amount}}, nil
		case Withdraw:
			if c.Amount > balance {
				return nil, errInsufficient
			}
			return []Event{Withdrawn{c.Amount}}, nil
		}
		return nil, nil
	},
	Evolve: func(balance int, e Event) int {
		switch e := e.(type) {
		case Deposited:
			return balance + e.Amount
		case Withdrawn:
			return balance - e.Amount
		}
		return balance
	},
	InitialState: func() int { return 0 },
}

// interfering wraps a store and lets a test act between a handler's read and
// its append, and count appends.
type interfering struct {
	eventstore.Store
	beforeAppend func(attempt int)
	appends      atomic.Int32
}

func (s *interfering) AppendToStream(ctx context.Context, stream string, evs []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	n := int(s.appends.Add(1))
	if s.beforeAppend != nil {
		s.beforeAppend(n)
	}
	return s.Store.AppendToStream(ctx, stream, evs, opts...)
}

func deposit(t *testing.T, s eventstore.Store, stream string, amount int) {
	t.Helper()
	data, err := eventstore.Encode(events, []Event{Deposited{amount}}, emmett.Metadata{})
	require.NoError(t, err)
	_, err = s.AppendToStream(context.Background(), stream, data)
	require.NoError(t, err)
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	h := command.NewDeciderHandler(s, decider, events)

	res, err := h.Handle(ctx, "account-1", Deposit{100})
	require.NoError(t, err)
	assert.Equal(t, 100, res.State)
	assert.Equal(t, int64(1), res.NextExpectedVersion)
	assert.True(t, res.Created)
	require.Len(t, res.Events, 1)
	assert.Equal(t, Deposited{100}, res.Events[0].Event)
	assert.Equal(t, "Deposited", res.Events[0].Type)
	assert.Equal(t, int64(1), res.Events[0].StreamPosition)
	assert.Equal(t, eventstore.PositionOf(res.Events[0].RecordedEvent), res.Position)

	res, err = h.Handle(ctx, "account-1", Withdraw{30})
	require.NoError(t, err)
	assert.Equal(t, 70, res.State)
	assert.Equal(t, int64(2), res.NextExpectedVersion)
	assert.False(t, res.Created)
}

func TestHandleNoEventsNoAppend(t *testing.T) {
	ctx := context.Background()
	s := &interfering{Store: memory.New()}
	deposit(t, s.Store, "account-1", 10)
	h := command.NewDeciderHandler(s, decider, events)

	res, err := h.Handle(ctx, "account-1", Noop{})
	require.NoError(t, err)
	assert.Empty(t, res.Events)
	assert.Equal(t, 10, res.State)
	assert.Equal(t, int64(1), res.NextExpectedVersion)
	assert.True(t, res.Position.IsZero())
	assert.Zero(t, s.appends.Load(), "no events, no append")
}

func TestHandleDecideError(t *testing.T) {
	ctx := context.Background()
	s := &interfering{Store: memory.New()}
	deposit(t, s.Store, "account-1", 10)
	h := command.NewDeciderHandler(s, decider, events)

	_, err := h.Handle(ctx, "account-1", Withdraw{50})
	require.ErrorIs(t, err, errInsufficient)
	assert.ErrorIs(t, err, emmett.ErrIllegalState)
	assert.Zero(t, s.appends.Load())
}

func TestHandleExpectedVersion(t *testing.T) {
	ctx := context.Background()
	s := &interfering{Store: memory.New()}
	deposit(t, s.Store, "account-1", 10)
	h := command.NewDeciderHandler(s, decider, events)

	t.Run("Matching", func(t *testing.T) {
		res, err := h.Handle(ctx, "account-1", Deposit{1}, eventstore.ExpectVersion(1))
		require.NoError(t, err)
		assert.Equal(t, int64(2), res.NextExpectedVersion)
	})
	t.Run("StaleIsAConflictBeforeDeciding", func(t *testing.T) {
		before := s.appends.Load()
		_, err := h.Handle(ctx, "account-1", Deposit{1}, eventstore.ExpectVersion(1))
		var conflict *eventstore.VersionConflictError
		require.ErrorAs(t, err, &conflict)
		assert.Equal(t, int64(2), conflict.Actual)
		assert.Equal(t, before, s.appends.Load(), "nothing appended")
	})
	t.Run("NoStream", func(t *testing.T) {
		_, err := h.Handle(ctx, "account-1", Deposit{1}, eventstore.ExpectNoStream())
		require.ErrorIs(t, err, eventstore.ErrVersionConflict)
		res, err := h.Handle(ctx, "account-2", Deposit{1}, eventstore.ExpectNoStream())
		require.NoError(t, err)
		assert.True(t, res.Created)
	})
	t.Run("StreamExists", func(t *testing.T) {
		_, err := h.Handle(ctx, "account-3", Deposit{1}, eventstore.ExpectStreamExists())
		require.ErrorIs(t, err, eventstore.ErrVersionConflict)
		_, err = h.Handle(ctx, "account-1", Deposit{1}, eventstore.ExpectStreamExists())
		require.NoError(t, err)
	})
}

func TestHandleRetriesARace(t *testing.T) {
	ctx := context.Background()
	s := &interfering{Store: memory.New()}
	deposit(t, s.Store, "account-1", 10)
	var decided atomic.Int32
	s.beforeAppend = func(attempt int) {
		if attempt == 1 { // a concurrent writer gets in between read and append
			deposit(t, s.Store, "account-1", 5)
		}
	}
	h := command.NewHandler(s, events, decider.Evolve, decider.InitialState)
	res, err := h.Handle(ctx, "account-1", func(balance int) ([]Event, error) {
		decided.Add(1)
		return []Event{Withdrawn{balance}}, nil // withdraw everything
	})
	require.NoError(t, err)
	assert.Equal(t, int32(2), decided.Load(), "decided again on the new state")
	assert.Equal(t, Withdrawn{15}, res.Events[0].Event, "the retry saw the concurrent deposit")
	assert.Equal(t, 0, res.State)
	assert.Equal(t, int64(3), res.NextExpectedVersion)
}

func TestHandleDoesNotRetryAnExactVersion(t *testing.T) {
	ctx := context.Background()
	s := &interfering{Store: memory.New()}
	deposit(t, s.Store, "account-1", 10)
	s.beforeAppend = func(attempt int) {
		if attempt == 1 {
			deposit(t, s.Store, "account-1", 5)
		}
	}
	h := command.NewDeciderHandler(s, decider, events)
	_, err := h.Handle(ctx, "account-1", Withdraw{1}, eventstore.ExpectVersion(1))
	var conflict *eventstore.VersionConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, int64(2), conflict.Actual)
	assert.Equal(t, int32(1), s.appends.Load(), "a conflict on the caller's version is returned, not retried")
}

func TestHandleRetryIsBounded(t *testing.T) {
	ctx := context.Background()
	s := &interfering{Store: memory.New()}
	s.beforeAppend = func(int) { deposit(t, s.Store, "account-1", 1) } // always loses
	h := command.NewDeciderHandler(s, decider, events,
		command.WithRetry(emmett.RetryPolicy{MaxAttempts: 4, InitialDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}))
	_, err := h.Handle(ctx, "account-1", Deposit{1})
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
	var conflict *eventstore.VersionConflictError
	require.ErrorAs(t, err, &conflict, "the last conflict is returned as it is")
	assert.Equal(t, int32(4), s.appends.Load())

	s.appends.Store(0)
	_, err = command.NewDeciderHandler(s, decider, events, command.NoRetry()).Handle(ctx, "account-1", Deposit{1})
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
	assert.Equal(t, int32(1), s.appends.Load())
}

func TestHandleRetryStopsWithTheContext(t *testing.T) {
	s := &interfering{Store: memory.New()}
	s.beforeAppend = func(int) { deposit(t, s.Store, "account-1", 1) }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	h := command.NewDeciderHandler(s, decider, events,
		command.WithRetry(emmett.RetryPolicy{MaxAttempts: 1000, InitialDelay: time.Second, MaxDelay: time.Second}))
	start := time.Now()
	_, err := h.Handle(ctx, "account-1", Deposit{1})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "the backoff ends with the context")
}

// TestHandleConcurrentWriters has many goroutines handle commands on one
// stream at once: retries make every command land exactly once.
func TestHandleConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	h := command.NewDeciderHandler(s, decider, events,
		command.WithRetry(emmett.RetryPolicy{MaxAttempts: 200, InitialDelay: 100 * time.Microsecond, MaxDelay: 2 * time.Millisecond}))
	const writers, each = 16, 10
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := h.Handle(ctx, "account-1", Deposit{w*100 + i}); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	want := 0
	for w := range writers {
		for i := range each {
			want += w*100 + i
		}
	}
	res, err := h.Handle(ctx, "account-1", Noop{})
	require.NoError(t, err)
	assert.Equal(t, want, res.State)
	assert.Equal(t, int64(writers*each), res.NextExpectedVersion)
}

func TestHandleMetadataAndPartition(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	h := command.NewDeciderHandler(s, decider, events)
	md := emmett.Metadata{CorrelationID: "req-1", Fields: map[string]any{"user": "ann"}}
	res, err := h.Handle(ctx, "account-1", Deposit{3}, eventstore.WithMetadata(md), eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	assert.Equal(t, md, res.Events[0].Metadata)

	_, exists, err := s.StreamVersion(ctx, "account-1")
	require.NoError(t, err)
	assert.False(t, exists, "not in the default partition")
	v, exists, err := s.StreamVersion(ctx, "account-1", eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Equal(t, int64(1), v)
	for e, err := range s.ReadStream(ctx, "account-1", eventstore.InPartition("tenant-a")) {
		require.NoError(t, err)
		assert.Equal(t, md, e.Metadata)
	}
}

func TestHandleUnknownStoredEvent(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	deposit(t, s, "account-1", 10)
	_, err := s.AppendToStream(ctx, "account-1", []eventstore.EventData{{Type: "Frozen", Data: []byte(`{}`)}})
	require.NoError(t, err)

	_, err = command.NewDeciderHandler(s, decider, events).Handle(ctx, "account-1", Deposit{1})
	require.ErrorIs(t, err, emmett.ErrUnknownEventType)

	res, err := command.NewDeciderHandler(s, decider, events, command.WithLoadOptions(aggregate.SkipUnknownEvents())).Handle(ctx, "account-1", Deposit{1})
	require.NoError(t, err)
	assert.Equal(t, 11, res.State)
	assert.Equal(t, int64(3), res.NextExpectedVersion)
}

func TestHandleStoreError(t *testing.T) {
	s := memory.New()
	require.NoError(t, s.Close())
	_, err := command.NewDeciderHandler(s, decider, events).Handle(context.Background(), "account-1", Deposit{1})
	require.True(t, errors.Is(err, eventstore.ErrClosed), "got %v", err)
}
