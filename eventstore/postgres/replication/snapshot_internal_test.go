package replication

import (
	"context"
	"strconv"
	"testing"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A slot's exported snapshot can have its xmin past its xmax, a text
// pg_snapshot's input refuses (CI failed reading a slot's history on
// "9069:9068:"): normalizeSnapshot makes it one that parses and sees the
// same transactions.
func TestNormalizeSnapshot(t *testing.T) {
	for in, want := range map[string]string{
		"9069:9068:":      "9068:9068:",
		"100:120:105,110": "100:120:105,110",
		"100:100:":        "100:100:",
		"130:120:121,125": "120:120:",
		"not a snapshot":  "not a snapshot",
		"12:10:9,11":      "10:10:9",
		"abc:10:":         "abc:10:",
	} {
		assert.Equal(t, want, normalizeSnapshot(in), in)
	}

	conn, err := pgx.Connect(context.Background(), pgtest.NewDatabase(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var parsed string
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT $1::pg_snapshot::text", normalizeSnapshot("9069:9068:")).Scan(&parsed))
	assert.Equal(t, "9068:9068:", parsed)
	for xid, visible := range map[int64]bool{9067: true, 9068: false, 9069: false} {
		var got bool
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT pg_visible_in_snapshot($1::text::xid8, $2::pg_snapshot)", strconv.FormatInt(xid, 10), normalizeSnapshot("9069:9068:")).Scan(&got))
		assert.Equal(t, visible, got, "transaction %d", xid)
	}
}

// A parsed snapshot sees a committed transaction as pg_visible_in_snapshot
// does: below xmin, or below xmax and not in progress.
func TestSnapshotSees(t *testing.T) {
	s, err := parseSnapshot("100:110:102,105")
	require.NoError(t, err)
	for xid, want := range map[uint64]bool{99: true, 100: true, 101: true, 102: false, 105: false, 109: true, 110: false, 200: false} {
		assert.Equal(t, want, s.sees(xid), "xid %d", xid)
	}
	_, err = parseSnapshot("110:100:")
	assert.Error(t, err)
	_, err = parseSnapshot("nonsense")
	assert.Error(t, err)
	xids, err := parseXidArray(xidArray([]uint64{7, 3, 5}))
	require.NoError(t, err)
	assert.Equal(t, []uint64{3, 5, 7}, xids)
	xids, err = parseXidArray("{}")
	require.NoError(t, err)
	assert.Empty(t, xids)
}
