package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/jackc/pgx/v5"
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
	_, err := pool.Exec(ctx, `INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
SELECT 'plan-' || lpad(i::text, 6, '0'), 1, 'emt:default', 'plan', '{}', false FROM generate_series(1, 20000) AS i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE emt_streams`)
	require.NoError(t, err)
	text := explain(t, pool, `EXPLAIN SELECT stream_id FROM emt_streams
WHERE partition = 'emt:default' AND is_archived = false AND stream_id COLLATE "C" > 'plan-010000' AND stream_id COLLATE "C" < 'plan-1'
ORDER BY stream_id COLLATE "C" LIMIT 50`)
	assert.Contains(t, text, "Index Scan", text)
	assert.NotContains(t, text, "Sort", text)
}

// An append finds its stream's row by its name, in the plan of a young
// table (no statistics) as in any other: never through the names' index
// by partition only, whose cost grows with the partition's streams.
func TestAppendLooksUpItsStreamByName(t *testing.T) {
	s, db := openStore(t)
	ctx := context.Background()
	for i := range 40 {
		_, err := s.AppendToStream(ctx, fmt.Sprintf("plan-%d", i), []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}})
		require.NoError(t, err)
	}
	pool := adminPool(t, db)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `PREPARE exact_append(text, text, bigint, text, text, jsonb, jsonb, text, bigint) AS `+postgres.ExactAppendSQL)
	require.NoError(t, err)
	text := explain(t, conn, `EXPLAIN EXECUTE exact_append('plan-1', 'emt:default', 1, 'id', 'A', '{}', '{}', '1', 1)`)
	require.Contains(t, text, "Index Cond: ((stream_id = $1)", text)
}

func explain(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, query string) string {
	t.Helper()
	rows, err := db.Query(context.Background(), query)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return strings.Join(plan, "\n")
}
