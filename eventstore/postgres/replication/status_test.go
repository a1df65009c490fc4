package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pglogrepl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stoppedProcessor runs a processor on src until it has applied an append,
// stops it, and waits until no walsender holds the slot: from then on the
// slot's restart_lsn and confirmed_flush_lsn stay where they are.
func stoppedProcessor(t *testing.T, s *postgres.Store, src *replication.Source) {
	t.Helper()
	p := projection.NewProjectionProcessor(s.Processors(), src, newTally(t, s.Pool(), "counters"))
	r := start(t, p)
	waitFor(t, p, appendTo(t, s, "a-1", 3).Position)
	require.NoError(t, r.stop(t))
	require.Eventually(t, func() bool {
		st, err := src.Status(context.Background())
		require.NoError(t, err)
		return st.Exists && !st.Active
	}, waitLimit, 5*time.Millisecond, "the walsender ends")
}

// The slot of a stopped processor retains more WAL, and falls further
// behind, as WAL is written: Status reports both as the server's current
// position minus the slot's restart_lsn and confirmed_flush_lsn.
func TestStatusOfAStoppedProcessorsSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, newDatabase(t))
	src := newSource(t, s, "counters")
	stoppedProcessor(t, s, src)

	// Status reads the WAL insert position (its CurrentLSN) at some
	// moment between two reads of it here: each figure lies between the
	// two computed from them, whatever else writes WAL meanwhile (the
	// server's own records). The slot's LSNs do not move: nothing streams
	// from it.
	read := func() (current, restart, confirmed pglogrepl.LSN) {
		var c, r, f string
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text, restart_lsn::text, confirmed_flush_lsn::text
FROM pg_replication_slots WHERE slot_name = $1`, src.Slot()).Scan(&c, &r, &f))
		var err error
		current, err = pglogrepl.ParseLSN(c)
		require.NoError(t, err)
		restart, err = pglogrepl.ParseLSN(r)
		require.NoError(t, err)
		confirmed, err = pglogrepl.ParseLSN(f)
		require.NoError(t, err)
		return current, restart, confirmed
	}
	status := func() replication.Status {
		low, restart, confirmed := read()
		st, err := src.Status(ctx)
		require.NoError(t, err)
		high, restartAfter, confirmedAfter := read()
		require.Equal(t, restart, restartAfter, "an inactive slot's restart_lsn stays")
		require.Equal(t, confirmed, confirmedAfter, "an inactive slot's confirmed_flush_lsn stays")
		assert.False(t, st.Active)
		assert.Equal(t, restart, st.RestartLSN)
		assert.Equal(t, confirmed, st.ConfirmedFlushLSN)
		assert.GreaterOrEqual(t, st.RetainedBytes, int64(low-restart))
		assert.LessOrEqual(t, st.RetainedBytes, int64(high-restart))
		assert.GreaterOrEqual(t, st.LagBytes, int64(low-confirmed))
		assert.LessOrEqual(t, st.LagBytes, int64(high-confirmed))
		return st
	}
	first := status()
	writeWAL(t, s)
	second := status()
	assert.Greater(t, second.RetainedBytes, first.RetainedBytes)
	assert.Greater(t, second.LagBytes, first.LagBytes)
	assert.GreaterOrEqual(t, second.RetainedBytes, second.LagBytes, "restart_lsn is at or before confirmed_flush_lsn")
	t.Logf("retained %d -> %d bytes, lag %d -> %d bytes", first.RetainedBytes, second.RetainedBytes, first.LagBytes, second.LagBytes)
}
