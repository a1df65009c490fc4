package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamLister(t *testing.T) {
	s, db := openStore(t)
	storetest.RunStreamLister(t, storetest.Config{
		New: func(t *testing.T) eventstore.Store { return s },
		CreatePartition: func(ctx context.Context, store eventstore.Store, partition string) error {
			return store.(*postgres.Store).AddPartition(ctx, partition)
		},
	})

	storetest.RunGroupLister(t, s.Membership())

	// A page is an index range scan, not a sort of the partition's
	// streams, however many there are.
	ctx := context.Background()
	pool := adminPool(t, db)
	_, err := pool.Exec(ctx, `SET enable_seqscan = off`)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `EXPLAIN SELECT stream_id FROM emt_streams
WHERE partition = 'emt:default' AND is_archived = false AND stream_id COLLATE "C" > 'a-5' AND stream_id COLLATE "C" < 'b'
ORDER BY partition, is_archived, stream_id COLLATE "C" LIMIT 50`)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	text := strings.Join(plan, "\n")
	assert.Contains(t, text, "Index", text)
	assert.NotContains(t, text, "Sort", text)
}
