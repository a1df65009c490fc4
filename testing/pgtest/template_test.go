package pgtest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewDatabaseFrom(t *testing.T) {
	ctx := context.Background()
	var setups atomic.Int32
	setup := func(ctx context.Context, connString string) error {
		setups.Add(1)
		conn, err := pgx.Connect(ctx, connString)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE from_the_template (id int); INSERT INTO from_the_template VALUES (1)")
		return err
	}
	a, b := pgtest.NewDatabaseFrom(t, "pgtest_template", setup), pgtest.NewDatabaseFrom(t, "pgtest_template", setup)
	require.NotEqual(t, a, b, "each call gives a database of its own")

	connA, connB := connect(t, a), connect(t, b)
	count := func(conn *pgx.Conn) int {
		t.Helper()
		var n int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM from_the_template").Scan(&n))
		return n
	}
	assert.Equal(t, 1, count(connA), "the template's table and rows")
	assert.Equal(t, 1, count(connB), "the template's table and rows")
	_, err := connA.Exec(ctx, "INSERT INTO from_the_template VALUES (2)")
	require.NoError(t, err)
	assert.Equal(t, 2, count(connA))
	assert.Equal(t, 1, count(connB), "databases are separate")

	if pgtest.Default(t).External() {
		assert.Equal(t, int32(2), setups.Load(), "no template on an external server: setup runs on each database")
	} else {
		assert.Equal(t, int32(1), setups.Load(), "setup prepares the template once")
	}
}
