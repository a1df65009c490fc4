package postgres_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/require"
)

// withPoolSize sets the size of the store's pool in a connection URL.
func withPoolSize(url string, n int) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "pool_max_conns=" + strconv.Itoa(n)
}

func TestMembership(t *testing.T) {
	t.Parallel()
	projectiontest.RunMembership(t, func(t *testing.T) projection.Membership {
		s, _ := openStore(t)
		return s.Membership()
	})
}

func TestGroup(t *testing.T) {
	t.Parallel()
	projectiontest.RunGroup(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			// The three instances share the store: each running processor
			// holds a connection for its lock. The package's readAllWait:
			// the suite's Head and replay must not stop short at another
			// test's open transaction.
			s, err := postgres.Open(t.Context(), withPoolSize(newMigratedDatabase(t), 32), postgres.WithProjections(inline...),
				postgres.WithReadAllWait(readAllWait))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*postgres.Store).Source(projection.PollBatchSize(100))
		},
	}, func(b projectiontest.Backend) projection.Membership { return b.(*postgres.Store).Membership() })
}

// TestMembershipPooler runs the suite through a PgBouncer in transaction
// mode: heartbeats keep no session state.
func TestMembershipPooler(t *testing.T) {
	t.Parallel()
	b := newBouncer(t)
	projectiontest.RunMembership(t, func(t *testing.T) projection.Membership {
		s, _ := openPooledStore(t, b)
		return s.Membership()
	})
}
