package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProcessorOutlivesServerRestart stops the server for a while and
// starts it again, while writers append and a polling projector runs: the
// appends made while it is down fail with ErrUnavailable (nothing stored),
// the projector's Run does not return (it waits for the server, takes its
// lock again and resumes), and the read model ends equal to a fresh
// replay.
func TestProcessorOutlivesServerRestart(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t, pgtest.Options{})
	ctx := context.Background()
	s, err := postgres.Open(ctx, srv.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	counters := projectiontest.Counters("counters")
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollInterval(50*time.Millisecond)), counters)
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unavailable, unknown int
	var appended atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data, err := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 1 + i%3}}, emmett.Metadata{})
				require.NoError(t, err)
				_, err = s.AppendToStream(ctx, fmt.Sprintf("counter-%d", (w*5+i)%20), data)
				if err == nil {
					appended.Add(1)
				} else {
					mu.Lock()
					switch {
					case errors.Is(err, eventstore.ErrUnavailable):
						unavailable++
					case errors.Is(err, eventstore.ErrOutcomeUnknown):
						unknown++ // cut off as it committed: in the log or not
					default:
						t.Errorf("append: %v", err)
					}
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	// The writers append, then fail while the server is down, then append
	// again once it is back: each phase lasts until they did.
	appendsGoOn := func(msg string) {
		t.Helper()
		from := appended.Load()
		require.Eventually(t, func() bool { return appended.Load() >= from+20 }, time.Minute, 5*time.Millisecond, msg)
	}
	appendsGoOn("appends before the restart")
	require.NoError(t, srv.Stop())
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return unavailable >= 4
	}, time.Minute, 5*time.Millisecond, "appends while the server is down fail with ErrUnavailable")
	require.Eventually(t, func() bool { _, running := p.Checkpoint(); return !running }, time.Minute, 5*time.Millisecond,
		"the projector lost its lock with the server")
	require.NoError(t, srv.Start())
	appendsGoOn("appends after the restart")
	close(stop)
	wg.Wait()
	t.Logf("appends refused while the server was down: %d unavailable, %d of unknown outcome", unavailable, unknown)
	assert.Positive(t, unavailable, "appends while the server is down fail with ErrUnavailable")

	select {
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	default:
	}
	head, err := s.Head(ctx)
	require.NoError(t, err)
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, p.WaitFor(waitCtx, head))
	projectiontest.RequireCountersMatchReplay(t, s, "counters")
	stopRun()
	require.NoError(t, <-done)
}
