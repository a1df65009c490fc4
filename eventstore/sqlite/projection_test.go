package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reservedCollections are names of tables of the event store's and of
// SQLite's that collections may not take.
var reservedCollections = []string{"emt_messages", "emt_streams", "emt_processors", "emt_anything", "sqlite_master", "sqlite_sequence"}

// dropTable drops a collection's table in a transaction of the store's.
func dropTable(ctx context.Context, tx projection.Tx, collection string) error {
	_, err := tx.Unwrap().(*sql.Tx).ExecContext(ctx, `DROP TABLE "`+collection+`"`)
	return err
}

// hasIndex tells whether a collection's table has the index EnsureIndex
// creates on the field at path, asking in a processor's transaction that
// rolls back.
func hasIndex(ctx context.Context, b projectiontest.Backend, collection, path string) (bool, error) {
	var n int
	errDone := errors.New("done")
	err := b.Processors().Commit(ctx, "has-index", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		err := tx.Unwrap().(*sql.Tx).QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name = ?`,
			collection, docsql.IndexName(collection, path)).Scan(&n)
		if err != nil {
			return err
		}
		return errDone
	})
	if !errors.Is(err, errDone) {
		return false, err
	}
	return n == 1, nil
}

func TestProjections(t *testing.T) {
	source := func(b projectiontest.Backend) projection.Source {
		return b.(*sqlite.Store).Source(projection.PollBatchSize(100))
	}
	woken := func(b projectiontest.Backend) projection.Source {
		return b.(*sqlite.Store).Source(projection.PollInterval(time.Hour))
	}
	// The larger cases (rebuilds, a cancel mid-batch) append this many
	// events; the file store commits each append to disk, so it gets
	// fewer, to keep the package's tests quick under -race.
	events, fileEvents := 2000, 1000
	if testing.Short() {
		events, fileEvents = 500, 500
	}
	t.Run("File", func(t *testing.T) {
		projectiontest.Run(t, projectiontest.Config{
			New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
				path := filepath.Join(t.TempDir(), "projections.db")
				s, err := sqlite.Open(context.Background(), path,
					sqlite.WithProjections(inline...), sqlite.WithSynchronous(sqlite.SyncNormal))
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, s.Close()) })
				return s
			},
			Source:              source,
			WokenSource:         woken,
			Events:              fileEvents,
			ReservedCollections: reservedCollections,
			DropTable:           dropTable,
			HasIndex:            hasIndex,
		})
	})
	t.Run("UserDB", func(t *testing.T) {
		skipOnWasm(t)
		// Pools the application opened (New), readers apart from the
		// writer, without IMMEDIATE transactions.
		projectiontest.Run(t, projectiontest.Config{
			New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
				path := filepath.Join(t.TempDir(), "user.db")
				writer, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
				require.NoError(t, err)
				writer.SetMaxOpenConns(1)
				readers, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
				require.NoError(t, err)
				t.Cleanup(func() { readers.Close(); writer.Close() })
				s, err := sqlite.New(context.Background(), writer, readers, sqlite.WithProjections(inline...))
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return s
			},
			Source:              source,
			WokenSource:         woken,
			Events:              300,
			ReservedCollections: reservedCollections,
			DropTable:           dropTable,
			HasIndex:            hasIndex,
		})
	})
	t.Run("Memory", func(t *testing.T) {
		projectiontest.Run(t, projectiontest.Config{
			New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
				return openMemory(t, sqlite.WithProjections(inline...))
			},
			Source:              source,
			WokenSource:         woken,
			Events:              events,
			ReservedCollections: reservedCollections,
			DropTable:           dropTable,
			HasIndex:            hasIndex,
		})
	})
}
