package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func reactor(store *memory.Store, id string, handle func(context.Context, emmett.RecordedEvent) error) *projection.Processor {
	if handle == nil {
		handle = func(context.Context, emmett.RecordedEvent) error { return nil }
	}
	return projection.NewReactorProcessor(store.Processors(), store.Source(), id, nil, handle,
		projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}))
}

// runGroup runs g in a goroutine; the returned function stops it and
// returns what Run returned.
func runGroup(t *testing.T, ctx context.Context, g *projection.Group) (stop func() error, done <-chan error) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan error, 1)
	go func() { ch <- g.Run(ctx) }()
	t.Cleanup(cancel)
	return func() error {
		cancel()
		select {
		case err := <-ch:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("the group did not stop")
			return nil
		}
	}, ch
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGroupInvalid(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	m := store.Membership()
	p := reactor(store, "p", nil)
	for name, g := range map[string]*projection.Group{
		"empty name":    projection.NewGroup(m, "", []*projection.Processor{p}),
		"no processors": projection.NewGroup(m, "app", nil),
		"two of one id": projection.NewGroup(m, "app", []*projection.Processor{p, reactor(store, "p", nil)}),
		"nil processor": projection.NewGroup(m, "app", []*projection.Processor{nil}),
		"TTL 0":         projection.NewGroup(m, "app", []*projection.Processor{p}, projection.WithInstanceTTL(0)),
	} {
		assert.ErrorIs(t, g.Run(ctx), projection.ErrInvalidGroup, name)
	}

	g := projection.NewGroup(m, "app", []*projection.Processor{p}, projection.WithInstanceTTL(time.Second))
	stop, _ := runGroup(t, ctx, g)
	waitUntil(t, "the processor runs", func() bool { return len(g.Running()) == 1 })
	assert.ErrorIs(t, g.Run(ctx), projection.ErrInvalidGroup, "Run while it runs")
	require.NoError(t, stop())
	assert.Empty(t, g.Running())
	live, err := m.Instances(ctx, "app")
	require.NoError(t, err)
	assert.Empty(t, live, "the instance left the group")
	assert.Contains(t, projection.NewGroup(m, "app", nil).InstanceID(), ":", "a default id: host, process, UUID")
}

// TestGroupProcessorFails: a processor that stops on a failing event ends
// Run with its error, after the others are stopped and the row deleted.
func TestGroupProcessorFails(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	appendCart(ctx, store, "cart-1", ItemAdded{Client: "c", Product: "p", Price: 1})
	boom := errors.New("boom")
	failing := reactor(store, "failing", func(context.Context, emmett.RecordedEvent) error { return boom })
	fine := reactor(store, "fine", nil)
	g := projection.NewGroup(store.Membership(), "app", []*projection.Processor{failing, fine}, projection.WithInstanceTTL(time.Second))
	_, done := runGroup(t, ctx, g)
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end")
	}
	var perr *projection.ProcessorError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "failing", perr.Processor)
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, g.Running(), "the other processor stopped too")
	live, lerr := store.Membership().Instances(ctx, "app")
	require.NoError(t, lerr)
	assert.Empty(t, live)
}

// flaky is a Membership whose heartbeats fail with err while set.
type flaky struct {
	projection.Membership
	mu    sync.Mutex
	err   error
	beats int
}

func (f *flaky) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *flaky) Heartbeat(ctx context.Context, group string, self projection.Instance, ttl time.Duration) ([]projection.Instance, error) {
	f.mu.Lock()
	err := f.err
	f.beats++
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Membership.Heartbeat(ctx, group, self, ttl)
}

// TestGroupStoreOutage: while heartbeats fail because the store is out of
// reach, the instance goes on for a TTL, then stops its processors (the
// others take them over); it runs them again once it beats again.
func TestGroupStoreOutage(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	m := &flaky{Membership: store.Membership()}
	g := projection.NewGroup(m, "app", []*projection.Processor{reactor(store, "a", nil), reactor(store, "b", nil)},
		projection.WithInstanceTTL(400*time.Millisecond))
	stop, _ := runGroup(t, ctx, g)
	waitUntil(t, "both processors run", func() bool { return len(g.Running()) == 2 })

	m.set(fmt.Errorf("connection refused: %w", eventstore.ErrUnavailable))
	waitUntil(t, "the processors stop once the instance may be presumed dead", func() bool { return len(g.Running()) == 0 })
	assert.Empty(t, g.Assigned())
	m.set(nil)
	waitUntil(t, "the processors run again", func() bool { return len(g.Running()) == 2 })
	require.NoError(t, stop())
}

// TestGroupHeartbeatRefused: a heartbeat failing for another reason than
// an outage (a database without the table) ends Run.
func TestGroupHeartbeatRefused(t *testing.T) {
	store := memory.New()
	refused := errors.New("relation emt_instances does not exist")
	m := &flaky{Membership: store.Membership(), err: refused}
	g := projection.NewGroup(m, "app", []*projection.Processor{reactor(store, "a", nil)})
	assert.ErrorIs(t, g.Run(t.Context()), refused)
}

// TestGroupHeartbeatFailsLater: once the group has beaten, a failing
// heartbeat is taken as passing, whatever its error, unless the store
// is closed.
func TestGroupHeartbeatFailsLater(t *testing.T) {
	store := memory.New()
	m := &flaky{Membership: store.Membership()}
	g := projection.NewGroup(m, "app", []*projection.Processor{reactor(store, "a", nil)}, projection.WithInstanceTTL(400*time.Millisecond))
	_, done := runGroup(t, t.Context(), g)
	waitUntil(t, "the processor runs", func() bool { return len(g.Running()) == 1 })
	m.set(errors.New("database is locked"))
	waitUntil(t, "the processor stops once the instance may be presumed dead", func() bool { return len(g.Running()) == 0 })
	m.set(fmt.Errorf("closing: %w", eventstore.ErrClosed))
	select {
	case err := <-done:
		assert.ErrorIs(t, err, eventstore.ErrClosed)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end on a closed store")
	}
}
