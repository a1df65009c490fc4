// Package backoff waits between retries: exponential bounds with full
// jitter, cut short by the context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Wait sleeps before retry number attempt (1 for the first retry): a random
// duration up to initial doubled attempt-1 times, capped at limit. It
// returns the context's error if the context ends first.
func Wait(ctx context.Context, attempt int, initial, limit time.Duration) error {
	bound := initial << max(attempt-1, 0)
	if bound <= 0 || (limit > 0 && bound > limit) {
		bound = limit
	}
	if bound <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(rand.N(bound) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
