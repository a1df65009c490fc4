package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	closeBenchServer()
	os.Exit(code)
}

// openStore opens a store on a fresh database.
func openStore(t testing.TB, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, db, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, db
}

// adminPool is a pool on the database for what tests do behind the store.
func adminPool(t testing.TB, db string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), db)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestConformance(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) eventstore.Store { return s },
		CreatePartition: func(ctx context.Context, store eventstore.Store, partition string) error {
			return store.(*postgres.Store).AddPartition(ctx, partition)
		},
	})
}
