package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openFile opens a store on a new database file, closed when t ends.
func openFile(t *testing.T, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "group.db"),
		append([]sqlite.Option{sqlite.WithSynchronous(sqlite.SyncNormal)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestMembership(t *testing.T) {
	projectiontest.RunMembership(t, func(t *testing.T) projection.Membership { return openFile(t).Membership() })
}

func TestGroup(t *testing.T) {
	projectiontest.RunGroup(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			return openFile(t, sqlite.WithProjections(inline...), sqlite.WithLeaseTTL(time.Second))
		},
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*sqlite.Store).Source(projection.PollBatchSize(100))
		},
	}, func(b projectiontest.Backend) projection.Membership { return b.(*sqlite.Store).Membership() })
}
