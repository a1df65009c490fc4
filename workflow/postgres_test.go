package workflow_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/workflow"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	backends = append(backends, backend{
		name:      "postgres",
		fresh:     migrated,
		open:      openPostgres,
		processes: true,
	})
	os.Exit(pgtest.Main(m))
}

func openPostgres(t testing.TB, conn string) workflow.Store {
	s, err := postgres.Open(context.Background(), conn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// migrated is a new database with the store's schema: a copy of a
// template migrated once.
func migrated(t testing.TB) string {
	return pgtest.NewDatabaseFrom(t, "emmett_migrated", func(ctx context.Context, connString string) error {
		s, err := postgres.Open(ctx, connString)
		if err != nil {
			return err
		}
		return s.Close()
	})
}

// TestSchedulesAreFoundThroughAnIndex checks that a processor looks the
// scheduled messages of its workflow up through an index on the field
// that names the workflow: collections have no index but their primary
// key unless one is declared, and without it each delivery would read
// every schedule of every workflow.
func TestSchedulesAreFoundThroughAnIndex(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, migrated(t)).(*postgres.Store)
	p := newProcessor(s, time.Minute, routerHooks{})
	place(t, s, "1", 1)
	require.NoError(t, p.CatchUp(ctx))
	n, err := projection.NewCollection[map[string]any](s.Documents(), workflow.SchedulesCollection).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the order's timeout is scheduled")

	var indexes []string
	rows, err := s.Pool().Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname`, workflow.SchedulesCollection)
	require.NoError(t, err)
	indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{workflow.SchedulesCollection + ":workflow", workflow.SchedulesCollection + "_pkey"}, indexes)
}
