package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunStreamLister checks a store's eventstore.StreamLister: the streams of
// a partition with a prefix, a page at a time, in byte order of their
// names, with their types and versions. cfg.New must return a store that
// implements it.
func RunStreamLister(t *testing.T, cfg Config) {
	t.Helper()
	ctx := context.Background()
	store := cfg.New(t)
	lister, ok := store.(eventstore.StreamLister)
	require.True(t, ok, "%T is not an eventstore.StreamLister", store)

	p := "lst" + randomHex(4) // a type of streams no other case uses
	other := "lst_" + randomHex(4)
	if cfg.CreatePartition != nil {
		require.NoError(t, cfg.CreatePartition(ctx, store, other))
	}
	appendN := func(stream string, n int, opts ...eventstore.AppendOption) {
		evs := make([]eventstore.EventData, n)
		for i := range evs {
			evs[i] = eventstore.EventData{Type: "Listed", Data: []byte(`{}`)}
		}
		_, err := store.AppendToStream(ctx, stream, evs, opts...)
		require.NoError(t, err)
	}
	appendN(p+"-2", 1)
	appendN(p+"-10", 3)
	appendN(p+"-1", 2)
	appendN(p+"x-1", 1) // another type whose name starts with p
	appendN(p+"-3", 1, eventstore.InPartition(other))

	names := func(infos []eventstore.StreamInfo) []string {
		out := []string{}
		for _, i := range infos {
			out = append(out, i.Name)
		}
		return out
	}
	page, err := lister.ListStreams(ctx, eventstore.StreamQuery{Prefix: p + "-", Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []eventstore.StreamInfo{
		{Name: p + "-1", Partition: eventstore.DefaultPartition, Type: p, Version: 2},
		{Name: p + "-10", Partition: eventstore.DefaultPartition, Type: p, Version: 3},
	}, page, "byte order, from the first")
	page, err = lister.ListStreams(ctx, eventstore.StreamQuery{Prefix: p + "-", After: p + "-10", Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{p + "-2"}, names(page), "the page after the last name of the one before")
	page, err = lister.ListStreams(ctx, eventstore.StreamQuery{Prefix: p + "-", After: p + "-2", Limit: 2})
	require.NoError(t, err)
	assert.Empty(t, page, "past the last")

	page, err = lister.ListStreams(ctx, eventstore.StreamQuery{Prefix: p})
	require.NoError(t, err)
	assert.Equal(t, []string{p + "-1", p + "-10", p + "-2", p + "x-1"}, names(page), "a prefix of names, not of types")
	page, err = lister.ListStreams(ctx, eventstore.StreamQuery{Prefix: p, Partition: other})
	require.NoError(t, err)
	assert.Equal(t, []eventstore.StreamInfo{{Name: p + "-3", Partition: other, Type: p, Version: 1}}, page, "one partition's streams")
	page, err = lister.ListStreams(ctx, eventstore.StreamQuery{Prefix: p + "-9"})
	require.NoError(t, err)
	assert.Empty(t, page)
}

// RunGroupLister checks a Membership's projection.GroupLister: the groups
// with a live instance, sorted, and not those whose instances left.
func RunGroupLister(t *testing.T, m projection.Membership) {
	t.Helper()
	ctx := context.Background()
	lister, ok := m.(projection.GroupLister)
	require.True(t, ok, "%T is not a projection.GroupLister", m)
	a, b := "grp_b"+randomHex(4), "grp_a"+randomHex(4)
	for _, g := range []string{a, b} {
		_, err := m.Heartbeat(ctx, g, projection.Instance{ID: "i1", Processors: []string{"p"}}, time.Minute)
		require.NoError(t, err)
	}
	groups, err := lister.Groups(ctx)
	require.NoError(t, err)
	assert.Subset(t, groups, []string{a, b})
	assert.True(t, slices.IsSorted(groups), groups)
	require.NoError(t, m.Leave(ctx, a, "i1"))
	groups, err = lister.Groups(ctx)
	require.NoError(t, err)
	assert.NotContains(t, groups, a, "no live instance left")
	assert.Contains(t, groups, b)
}
