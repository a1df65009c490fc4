package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// timed returns how long Wait slept.
func timed(t *testing.T, attempt int, initial, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, Wait(context.Background(), attempt, initial, limit))
	return time.Since(start)
}

// The waits are random (full jitter): of many waits with one bound, no
// two runs give the same list, and they spread across the bound.
func TestWaitJitters(t *testing.T) {
	const bound = 20 * time.Millisecond
	var waits []time.Duration
	for range 20 {
		waits = append(waits, timed(t, 1, bound, time.Second))
	}
	shortest, longest := waits[0], waits[0]
	for _, w := range waits {
		shortest, longest = min(shortest, w), max(longest, w)
	}
	t.Logf("20 waits up to %v: from %v to %v", bound, shortest, longest)
	assert.Greater(t, longest-shortest, bound/4, "the waits vary")
}

// The bound doubles with each retry, up to the limit: the sum of many
// waits of a retry is about half its bound times their number (10 ms for
// retry 1, 80 ms for retry 4; the scheduler's delays add to both alike).
func TestWaitDoublesUpToTheLimit(t *testing.T) {
	sum := func(attempt int, limit time.Duration) time.Duration {
		var total time.Duration
		for range 10 {
			total += timed(t, attempt, 2*time.Millisecond, limit)
		}
		return total
	}
	first, fourth := sum(1, time.Second), sum(4, time.Second) // bounds 2 ms and 16 ms
	t.Logf("10 waits of retry 1: %v, of retry 4: %v", first, fourth)
	assert.Greater(t, fourth-first, 25*time.Millisecond, "retry 4's bound is 8 times retry 1's")
	capped := sum(30, 4*time.Millisecond)
	assert.Less(t, capped, time.Second, "the limit caps the bound (unbounded, retry 30 would wait for days)")
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	assert.ErrorIs(t, Wait(ctx, 1, time.Hour, time.Hour), context.Canceled)
	assert.NoError(t, Wait(context.Background(), 1, 0, 0), "no bound: no wait")
}
