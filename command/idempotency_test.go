package command_test

import (
	"context"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A command handled twice under one idempotency key (a client retrying
// after a timeout) is handled once: the retry gets the first handling's
// result without deciding again, even where deciding again would fail.
func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	h := command.NewDeciderHandler(store, decider, events)
	_, err := h.Handle(ctx, "account-1", Deposit{10})
	require.NoError(t, err)

	first, err := h.Handle(ctx, "account-1", Withdraw{10}, eventstore.WithIdempotencyKey("req-1"))
	require.NoError(t, err)
	assert.False(t, first.Duplicate)
	again, err := h.Handle(ctx, "account-1", Withdraw{10}, eventstore.WithIdempotencyKey("req-1"))
	require.NoError(t, err, "deciding again would fail (insufficient funds): the first result is returned")
	assert.True(t, again.Duplicate)
	assert.Equal(t, first.Position, again.Position)
	assert.Equal(t, first.NextExpectedVersion, again.NextExpectedVersion)
	require.Len(t, again.Events, 1)
	assert.Equal(t, Withdrawn{10}, again.Events[0].Event)
	assert.Equal(t, eventstore.IdempotentMessageID("req-1", "account-1", 0), again.Events[0].MessageID)

	// Another key is another command.
	_, err = h.Handle(ctx, "account-1", Withdraw{10}, eventstore.WithIdempotencyKey("req-2"))
	require.ErrorIs(t, err, errInsufficient)

	// Concurrent retries of one command: one handling.
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]command.Result[int, Event], 8)
	errs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			<-start
			results[w], errs[w] = h.Handle(ctx, "account-2", Deposit{5}, eventstore.WithIdempotencyKey("req-3"))
		})
	}
	close(start)
	wg.Wait()
	handled := 0
	for w := range 8 {
		require.NoError(t, errs[w])
		assert.Equal(t, results[0].Position, results[w].Position)
		if !results[w].Duplicate {
			handled++
		}
	}
	assert.Equal(t, 1, handled)
	n := 0
	for _, err := range store.ReadStream(ctx, "account-2") {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 1, n, "the deposit stored once")
}
