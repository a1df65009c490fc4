package workflow_test

import (
	"context"
	"os"
	"testing"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/workflow"
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
