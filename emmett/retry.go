package emmett

import (
	"context"
	"time"

	"github.com/emmett-go/emmett/internal/backoff"
)

// RetryPolicy bounds the retries of an operation that may succeed when
// tried again: a command whose append lost a race (command.WithRetry), a
// processor's batch whose handler failed (projection.WithRetry).
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included; 1 or
	// less means no retry.
	MaxAttempts int
	// InitialDelay is the largest wait before the first retry; each retry
	// doubles it, up to MaxDelay. The actual wait is a random duration up
	// to that bound ("full jitter"), so that racing writers spread out.
	InitialDelay time.Duration
	// MaxDelay caps the wait.
	MaxDelay time.Duration
}

// Wait sleeps before retry number retry (1 for the first retry), or
// returns the context's error if it ends first.
func (p RetryPolicy) Wait(ctx context.Context, retry int) error {
	return backoff.Wait(ctx, retry, p.InitialDelay, p.MaxDelay)
}
