package wasm_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// collectGarbage runs garbage collections until stop is closed, and
// returns the longest one took. A collection stops the world, which waits
// for every goroutine to reach a point where it can be preempted: one
// running a module's compiled code without leaving it would hold every
// collection, and with it every goroutine of the process (the timers of
// the call's own timeout included), until it returned.
func collectGarbage(stop <-chan struct{}) <-chan time.Duration {
	longest := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		for {
			select {
			case <-stop:
				longest <- worst
				return
			case <-time.After(20 * time.Millisecond):
			}
			start := time.Now()
			runtime.GC()
			worst = max(worst, time.Since(start))
		}
	}()
	return longest
}

// A module stuck in an infinite loop is stopped at its call timeout, with
// an error that errors.Is matches, while the process's garbage collections
// go on; the host goes on too, with a fresh instance. Both a Go module
// (whose loop goes through function calls) and a loop of a few
// instructions assembled by hand (loop br 0 end: no call, no memory
// access) are stopped.
func TestALoopingModuleIsStoppedAtItsTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, c := range []struct {
		name string
		load func(t *testing.T) *wasm.Projection
	}{
		{"go", func(t *testing.T) *wasm.Projection {
			return tallyProjection(t, "./testdata/loop", wasm.WithCallTimeout(timeout))
		}},
		{"handmade", func(t *testing.T) *wasm.Projection {
			m, err := loadHandmade(t, handmade(spin), wasm.WithCallTimeout(timeout))
			require.NoError(t, err)
			p, err := wasm.NewProjection(m, "tallies")
			require.NoError(t, err)
			return p
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.load(t)
			store := memory.New(memory.WithProjections(p))
			boom := event("Boom")
			if c.name == "handmade" {
				boom = event("Spin") // the handmade module spins on every event
			}

			stop := make(chan struct{})
			longest := collectGarbage(stop)
			start := time.Now()
			_, err := store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{boom})
			elapsed := time.Since(start)
			close(stop)

			require.ErrorIs(t, err, wasm.ErrTimeout)
			var cerr *wasm.CallError
			require.ErrorAs(t, err, &cerr)
			assert.Contains(t, err.Error(), "timed out: no result after 500ms; the instance was stopped")
			assert.GreaterOrEqual(t, elapsed, timeout)
			assert.Less(t, elapsed, timeout+5*time.Second, "stopped at its timeout")
			gc := <-longest
			t.Logf("stopped after %v; the longest garbage collection meanwhile took %v", elapsed, gc)
			assert.Less(t, gc, timeout, "garbage collections do not wait for the looping call")

			if c.name == "go" {
				// The host goes on, with a fresh instance.
				appendEvents(t, store, "s-1", event("Added"))
				assert.Equal(t, tally{Count: 1, Types: []string{"Added"}}, documents(t, store.Documents(), "tallies")["s-1"])
			}
		})
	}
}

// Cancelling the caller's context stops a looping call at once, with the
// context's error.
func TestCancellingStopsALoopingCall(t *testing.T) {
	p := tallyProjection(t, "./testdata/loop", wasm.WithCallTimeout(time.Hour))
	store := memory.New()
	appendEvents(t, store, "s-1", event("Boom"))
	var events = readAll(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := store.Processors().Commit(ctx, "p", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		return p.Handle(ctx, tx, events)
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// Closing the module stops the calls in progress, with ErrClosed.
func TestClosingTheModuleStopsALoopingCall(t *testing.T) {
	p := tallyProjection(t, "./testdata/loop", wasm.WithCallTimeout(time.Hour))
	store := memory.New(memory.WithProjections(p))
	var closed atomic.Bool
	time.AfterFunc(200*time.Millisecond, func() {
		closed.Store(true)
		_ = p.Module().Close(context.Background())
	})
	start := time.Now()
	_, err := store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Boom")})
	require.True(t, closed.Load())
	require.ErrorIs(t, err, wasm.ErrClosed)
	assert.Less(t, time.Since(start), 5*time.Second)

	_, err = store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Added")})
	assert.True(t, errors.Is(err, wasm.ErrClosed))
}
