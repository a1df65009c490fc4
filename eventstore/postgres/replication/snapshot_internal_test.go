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
