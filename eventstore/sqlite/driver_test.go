package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" driver: SQLite compiled to Go, no cgo
)

// ncrucesDriver is the name github.com/ncruces/go-sqlite3/driver registers.
const ncrucesDriver = "sqlite3"

// newOnNcruces returns a store (sqlite.New) on a file database opened with
// the second pure-Go driver, github.com/ncruces/go-sqlite3: the claim that
// New works with any database/sql SQLite driver, not only modernc's. The
// DSN sets what New asks of the caller (WAL, a busy timeout) and nothing
// else: the transaction mode is left to the driver's default.
func newOnNcruces(t testing.TB, opts ...sqlite.Option) (*sqlite.Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ncruces.db")
	writer, err := sql.Open(ncrucesDriver, "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	require.NoError(t, err)
	writer.SetMaxOpenConns(1)
	readers, err := sql.Open(ncrucesDriver, "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	require.NoError(t, err)
	t.Cleanup(func() { readers.Close(); writer.Close() })
	s, err := sqlite.New(context.Background(), writer, readers, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s, writer
}

func TestNcrucesDriverConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New:               func(t *testing.T) eventstore.Store { s, _ := newOnNcruces(t); return s },
		LargeStreamEvents: 2_000,
	})
}

func TestNcrucesDriverProjections(t *testing.T) {
	projectiontest.Run(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			s, _ := newOnNcruces(t, sqlite.WithProjections(inline...))
			return s
		},
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*sqlite.Store).Source(projection.PollingOptions{BatchSize: 100})
		},
		Events:              300,
		ReservedCollections: reservedCollections,
		DropTable:           dropTable,
	})
}
