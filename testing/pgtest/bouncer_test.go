package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A bouncer reaches the server's databases and pools in transaction mode:
// two clients, one after the other, share one server session, and what a
// session keeps (a SET) does not stay with a client.
func TestBouncer(t *testing.T) {
	srv := pgtest.Default(t)
	b := pgtest.NewBouncer(t, srv, pgtest.BouncerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := srv.NewDatabase(t)

	direct := connect(t, db)
	_, err := direct.Exec(ctx, "CREATE TABLE through_bouncer (n int); INSERT INTO through_bouncer VALUES (1), (2)")
	require.NoError(t, err)

	one := connect(t, b.Through(db))
	var n int
	require.NoError(t, one.QueryRow(ctx, "SELECT sum(n) FROM through_bouncer").Scan(&n))
	assert.Equal(t, 3, n, "the bouncer reaches the test's database")

	var pid1, pid2 int
	require.NoError(t, one.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid1))
	two := connect(t, b.Through(db))
	require.NoError(t, two.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid2))
	assert.Equal(t, pid1, pid2, "the second client's transaction runs on the first one's server session")

	admin := connect(t, b.URL("pgbouncer"))
	rows, err := admin.Query(ctx, "SHOW CONFIG", pgx.QueryExecModeSimpleProtocol)
	require.NoError(t, err)
	config := map[string]string{}
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		if key, ok := vals[0].(string); ok {
			config[key], _ = vals[1].(string)
		}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, "transaction", config["pool_mode"])

	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "closing twice is not an error")
	_, err = pgx.Connect(ctx, b.URL(""))
	assert.Error(t, err, "a closed bouncer refuses connections")
}
