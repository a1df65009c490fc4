package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DropPublication refuses while a pgoutput slot of the database remains,
// naming it, drops the publication once none does, and a source that
// runs again afterwards (even one that made sure of the publication
// before) creates it again.
func TestDropPublication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	publicationExists := func() bool {
		var exists bool
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", replication.DefaultPublication).Scan(&exists))
		return exists
	}
	tl := newTally(t, s.Pool(), "counters")
	src := newSource(t, s, "counters")
	p := projection.NewProjectionProcessor(s.Processors(), src, tl)
	r := start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 2).Position)
	require.NoError(t, r.stop(t))

	err := replication.DropPublication(ctx, s, "")
	require.ErrorIs(t, err, replication.ErrPublicationInUse)
	assert.Contains(t, err.Error(), src.Slot(), "the error names the slot in the way")
	assert.True(t, publicationExists(), "not dropped while a slot remains")

	require.NoError(t, src.DropSlot(ctx))
	require.NoError(t, replication.DropPublication(ctx, s, ""))
	assert.False(t, publicationExists())
	require.NoError(t, replication.DropPublication(ctx, s, replication.DefaultPublication), "a missing publication is not an error")

	// The same source (it made sure of the publication before) runs
	// again: a rebuild makes a new slot, and the publication again.
	appendTo(t, s, "a-2", 1)
	require.NoError(t, p.ResetAndRebuild(ctx, nil))
	assert.True(t, publicationExists())
	start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 1).Position)
	requireEqualReplay(t, s, tl)
}

// A source creating its slot holds the publication's lock (shared) from
// making sure of the publication until the slot exists: a DropPublication
// meanwhile waits for it, then sees the new slot and refuses.
func TestDropPublicationWaitsForASlotBeingCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	src := newSource(t, s, "counters")
	_, err := src.Head(ctx) // the publication exists; no other slot of the database
	require.NoError(t, err)
	require.NoError(t, src.DropSlot(ctx))

	// What a source does while it creates its slot, by hand.
	creator, err := s.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer creator.Release()
	_, err = creator.Exec(ctx, "SELECT pg_advisory_lock_shared(hashtextextended('emt_replication_publication ' || $1, 0))", replication.DefaultPublication)
	require.NoError(t, err)

	dropped := make(chan error, 1)
	go func() { dropped <- replication.DropPublication(ctx, s, "") }()
	require.Eventually(t, func() bool {
		var waiting bool
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))").Scan(&waiting))
		return waiting
	}, waitLimit, 5*time.Millisecond, "DropPublication waits for the creator")

	_, err = creator.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", src.Slot())
	require.NoError(t, err)
	_, err = creator.Exec(ctx, "SELECT pg_advisory_unlock_shared(hashtextextended('emt_replication_publication ' || $1, 0))", replication.DefaultPublication)
	require.NoError(t, err)
	select {
	case err := <-dropped:
		require.ErrorIs(t, err, replication.ErrPublicationInUse)
	case <-time.After(waitLimit):
		t.Fatal("DropPublication did not return")
	}
}
