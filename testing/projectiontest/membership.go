package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunMembership is the conformance suite of a store's Membership (the
// heartbeat rows of processor groups' instances), each case as a named
// subtest, on a Membership of its own that newMembership returns (an
// empty database). Stores that implement projection.Membership run it
// beside Run.
func RunMembership(t *testing.T, newMembership func(t *testing.T) projection.Membership) {
	t.Helper()
	t.Run("LiveInstancesSorted", func(t *testing.T) {
		m := newMembership(t)
		ctx := background(t)
		live, err := m.Heartbeat(ctx, "app", projection.Instance{ID: "b", Processors: []string{"p2", "p1"}}, time.Minute)
		require.NoError(t, err)
		require.Len(t, live, 1)
		assert.Equal(t, "b", live[0].ID)
		assert.Equal(t, []string{"p2", "p1"}, live[0].Processors, "the processors as the instance listed them")
		assert.False(t, live[0].Started.IsZero())
		assert.True(t, live[0].Expires.After(live[0].Started), "expires a TTL after it beat")

		live, err = m.Heartbeat(ctx, "app", projection.Instance{ID: "a"}, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b"}, ids(live), "sorted by id, the caller included")
		assert.Empty(t, live[0].Processors)

		again, err := m.Heartbeat(ctx, "app", projection.Instance{ID: "b", Processors: []string{"p3"}}, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{"p3"}, again[1].Processors, "a heartbeat updates the list")
		assert.True(t, again[1].Started.Equal(live[1].Started), "a live instance keeps the time it joined")
		assert.False(t, again[1].Expires.Before(live[1].Expires), "a heartbeat moves the expiry on")

		listed, err := m.Instances(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, ids(listed))
		others, err := m.Instances(ctx, "other")
		require.NoError(t, err)
		assert.Empty(t, others, "groups are apart")
		live, err = m.Heartbeat(ctx, "other", projection.Instance{ID: "a"}, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, ids(live), "one instance id in two groups: two rows")
	})

	t.Run("ExpiredInstancesIgnored", func(t *testing.T) {
		m := newMembership(t)
		ctx := background(t)
		_, err := m.Heartbeat(ctx, "app", projection.Instance{ID: "short"}, 50*time.Millisecond)
		require.NoError(t, err)
		_, err = m.Heartbeat(ctx, "app", projection.Instance{ID: "long"}, time.Minute)
		require.NoError(t, err)
		time.Sleep(300 * time.Millisecond) // well past the short TTL
		listed, err := m.Instances(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, []string{"long"}, ids(listed), "the expired row is not live")
		live, err := m.Heartbeat(ctx, "app", projection.Instance{ID: "long"}, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{"long"}, ids(live))

		live, err = m.Heartbeat(ctx, "app", projection.Instance{ID: "short"}, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{"long", "short"}, ids(live), "an expired instance that beats again is live again")
	})

	t.Run("Leave", func(t *testing.T) {
		m := newMembership(t)
		ctx := background(t)
		for _, id := range []string{"a", "b", "c"} {
			_, err := m.Heartbeat(ctx, "app", projection.Instance{ID: id}, time.Minute)
			require.NoError(t, err)
		}
		require.NoError(t, m.Leave(ctx, "app", "b"))
		require.NoError(t, m.Leave(ctx, "app", "b"), "leaving twice")
		require.NoError(t, m.Leave(ctx, "other", "a"), "leaving a group without the instance")
		listed, err := m.Instances(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "c"}, ids(listed))
	})

	t.Run("Invalid", func(t *testing.T) {
		m := newMembership(t)
		ctx := background(t)
		for _, c := range []struct {
			group, id string
			ttl       time.Duration
		}{{"", "a", time.Minute}, {"app", "", time.Minute}, {"app", "a", 0}, {"app", "a", -time.Second}} {
			_, err := m.Heartbeat(ctx, c.group, projection.Instance{ID: c.id}, c.ttl)
			require.ErrorIs(t, err, projection.ErrInvalidGroup, fmt.Sprintf("group %q, instance %q, TTL %v", c.group, c.id, c.ttl))
		}
		listed, err := m.Instances(ctx, "app")
		require.NoError(t, err)
		assert.Empty(t, listed, "nothing was written")
	})

	t.Run("CancelledContext", func(t *testing.T) {
		m := newMembership(t)
		ctx, cancel := context.WithCancel(background(t))
		cancel()
		_, err := m.Heartbeat(ctx, "app", projection.Instance{ID: "a"}, time.Minute)
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.Canceled), "the context's error: %v", err)
	})
}

func ids(instances []projection.Instance) []string {
	out := make([]string, len(instances))
	for i, in := range instances {
		out[i] = in.ID
	}
	return out
}
