package emmett_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryPolicyWait(t *testing.T) {
	t.Run("BoundedByMaxDelay", func(t *testing.T) {
		p := emmett.RetryPolicy{MaxAttempts: 10, InitialDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}
		// Retry 30 would double the initial delay far past the cap.
		start := time.Now()
		for range 5 {
			require.NoError(t, p.Wait(context.Background(), 30))
		}
		assert.Less(t, time.Since(start), 5*20*time.Millisecond+500*time.Millisecond)
	})
	t.Run("CancelledContext", func(t *testing.T) {
		p := emmett.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Hour, MaxDelay: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		assert.ErrorIs(t, p.Wait(ctx, 1), context.Canceled)
		assert.Less(t, time.Since(start), time.Minute)
	})
	t.Run("NoDelay", func(t *testing.T) {
		assert.NoError(t, emmett.RetryPolicy{MaxAttempts: 3}.Wait(context.Background(), 1))
	})
}
