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

// A standby has the primary's databases, follows its writes and refuses
// writes of its own.
func TestStandby(t *testing.T) {
	primary, standby := pgtest.NewStandby(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NotEqual(t, primary.Port(), standby.Port())

	p, err := pgx.Connect(ctx, primary.URL(""))
	require.NoError(t, err)
	defer p.Close(ctx)
	_, err = p.Exec(ctx, "CREATE TABLE standby_test (n int); INSERT INTO standby_test VALUES (1), (2)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), "DROP TABLE standby_test") })
	require.NoError(t, standby.WaitReplayed(ctx, primary))

	s, err := pgx.Connect(ctx, standby.URL(""))
	require.NoError(t, err)
	defer s.Close(ctx)
	var inRecovery bool
	var n int
	require.NoError(t, s.QueryRow(ctx, "SELECT pg_is_in_recovery(), (SELECT sum(n) FROM standby_test)").Scan(&inRecovery, &n))
	assert.True(t, inRecovery)
	assert.Equal(t, 3, n)
	_, err = s.Exec(ctx, "INSERT INTO standby_test VALUES (3)")
	assert.ErrorContains(t, err, "read-only")
}
