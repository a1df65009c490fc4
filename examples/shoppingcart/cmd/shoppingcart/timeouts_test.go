package main_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/internal/slowclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerTimeouts runs the app with short timeouts: a body sent a byte a
// second is cut off, an idle keep-alive connection is closed, and a live
// stream keeps streaming for longer than every timeout. The server once
// set only a header timeout: the body and the idle connection were held
// for as long as the client liked.
func TestServerTimeouts(t *testing.T) {
	const timeout = 500 * time.Millisecond
	a := start(t, "EMMETT_SQLITE_PATH="+filepath.Join(t.TempDir(), "carts.db"), "EMMETT_POSTGRES_URL=",
		"REQUEST_TIMEOUT="+timeout.String(), "RESPONSE_TIMEOUT="+timeout.String(), "IDLE_TIMEOUT="+timeout.String())

	t.Run("ASlowBodyIsCutOff", func(t *testing.T) {
		took, err := slowclient.SlowBody(a.url+items, nil, time.Second, 10*time.Second)
		require.NoError(t, err)
		assert.Less(t, took, 5*time.Second, "cut off after about %v", timeout)
		assert.GreaterOrEqual(t, took, timeout/2, "cut off by the timeout, not refused at once")
	})
	t.Run("AnIdleConnectionIsClosed", func(t *testing.T) {
		took, err := slowclient.IdleClose(a.url+"/clients/ann/shopping-carts/summary", nil, 10*time.Second)
		require.NoError(t, err)
		assert.Less(t, took, 5*time.Second, "closed after about %v", timeout)
	})
	t.Run("ALiveStreamOutlivesTheTimeouts", func(t *testing.T) {
		res := a.do(t, http.MethodPost, items, `{"productId":"socks","quantity":1}`)
		require.Less(t, res.status, 300, "%s", res.body)
		before := a.allEvents(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const adds = 4
		var wg sync.WaitGroup
		wg.Go(func() {
			for range adds {
				time.Sleep(timeout + 200*time.Millisecond) // a stream silent for longer than every timeout
				r := a.do(t, http.MethodPost, items, `{"productId":"socks","quantity":1}`)
				assert.Less(t, r.status, 300, "%s", r.body)
			}
		})
		began := time.Now()
		got := a.sse(ctx, t, "/events/all/live", before[len(before)-1].Position, adds)
		wg.Wait()
		require.Len(t, got, adds, "every add, on one stream")
		assert.Greater(t, time.Since(began), adds*timeout, "the stream outlived the timeouts")
	})
	a.stop(t)
}
