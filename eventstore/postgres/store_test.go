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

// readAllWait is how long the tests' stores wait, before ReadAll reads,
// for the transactions open when it starts (WithReadAllWait; 1 s by
// default). The tests run in parallel on one server, and the server's
// oldest open transaction bounds what ReadAll returns in every database:
// another test's bulk write, seconds long under -race on a loaded
// machine, would otherwise hide the events a test has just appended. The
// tests of the wait itself open stores of their own.
const readAllWait = 30 * time.Second

// newMigratedDatabase creates a database for the test with the store's
// schema in it: a copy of a template that Open migrated once
// (pgtest.NewDatabaseFrom), as migrating each database took as long as
// creating it. The tests of the migrations start from empty databases
// (pgtest.NewDatabase).
func newMigratedDatabase(t testing.TB) string {
	t.Helper()
	return pgtest.NewDatabaseFrom(t, "emmett_migrated", func(ctx context.Context, connString string) error {
		s, err := postgres.Open(ctx, connString)
		if err != nil {
			return err
		}
		return s.Close()
	})
}

// openStore opens a store on a fresh database, migrated (waiting up to
// readAllWait before ReadAll reads, unless opts say otherwise).
func openStore(t testing.TB, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	db := newMigratedDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, db, append([]postgres.Option{postgres.WithReadAllWait(readAllWait)}, opts...)...)
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
	// Not in parallel: the suite's large stream case measures the heap of
	// the whole process, which other tests would make grow.
	s, _ := openStore(t)
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) eventstore.Store { return s },
		CreatePartition: func(ctx context.Context, store eventstore.Store, partition string) error {
			return store.(*postgres.Store).AddPartition(ctx, partition)
		},
	})
}
