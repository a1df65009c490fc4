package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func migrationsOf(t *testing.T, path string) []int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT version FROM emt_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()

	t.Run("Fresh", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fresh.db")
		s, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		assert.Equal(t, upTo(sqlite.SchemaVersion), migrationsOf(t, path), "every migration recorded once")

		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		defer db.Close()
		for _, table := range []string{"emt_streams", "emt_messages", "emt_processors", "emt_projections"} {
			var n int
			require.NoError(t, db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n))
			assert.Equal(t, 1, n, "table %s", table)
		}
		var mode string
		require.NoError(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
		assert.Equal(t, "wal", mode)
	})

	t.Run("Reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "reopen.db")
		s, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		_, err = s.AppendToStream(ctx, "kept-1", eventsN("Kept", 1, 2))
		require.NoError(t, err)
		require.NoError(t, s.Close())

		for range 2 {
			s, err = sqlite.Open(ctx, path)
			require.NoError(t, err)
			v, ok, err := s.StreamVersion(ctx, "kept-1")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, int64(2), v, "reopening keeps the data")
			require.NoError(t, s.Close())
		}
		assert.Equal(t, upTo(sqlite.SchemaVersion), migrationsOf(t, path), "reopening migrates nothing again")
	})

	t.Run("NewerVersionRefused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "newer.db")
		s, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		require.NoError(t, s.Close())

		// A later version of this package migrated the database further.
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		_, err = db.Exec(`INSERT INTO emt_migrations (version, description, applied_at) VALUES (?, 'from the future', '2099-01-01 00:00:00.000000')`, sqlite.SchemaVersion+1)
		require.NoError(t, err)
		require.NoError(t, db.Close())

		_, err = sqlite.Open(ctx, path)
		require.Error(t, err)
		assert.ErrorIs(t, err, sqlite.ErrSchemaTooNew)
		var verr *sqlite.SchemaVersionError
		require.ErrorAs(t, err, &verr)
		assert.Equal(t, sqlite.SchemaVersion+1, verr.Found)
		assert.Equal(t, sqlite.SchemaVersion, verr.Supported)
		assert.Contains(t, err.Error(), "upgrade")

		// New refuses it the same way, and nothing was changed.
		db, err = sql.Open("sqlite", path)
		require.NoError(t, err)
		defer db.Close()
		_, err = sqlite.New(ctx, db, nil)
		assert.ErrorIs(t, err, sqlite.ErrSchemaTooNew)
		assert.Equal(t, upTo(sqlite.SchemaVersion+1), migrationsOf(t, path))
	})

	t.Run("ConcurrentOpens", func(t *testing.T) {
		// Several stores (as several processes would) open a new database
		// at once: one migrates, the others wait for it and find it done.
		path := filepath.Join(t.TempDir(), "race.db")
		const n = 4
		stores := make([]*sqlite.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = sqlite.Open(ctx, path) })
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
		}
		for i, s := range stores {
			_, err := s.AppendToStream(ctx, "shared-1", eventsN("E", i, 1))
			require.NoError(t, err, "every store writes to the one database")
		}
		for _, s := range stores {
			require.NoError(t, s.Close())
		}
		assert.Equal(t, upTo(sqlite.SchemaVersion), migrationsOf(t, path))
	})

	t.Run("TwoStoresOneFile", func(t *testing.T) {
		// Two stores on one file serialize through SQLite's lock (with the
		// busy timeout), and the expected version holds across them.
		path := filepath.Join(t.TempDir(), "two.db")
		a, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
		require.NoError(t, err)
		defer a.Close()
		b, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
		require.NoError(t, err)
		defer b.Close()
		_, err = a.AppendToStream(ctx, "two-1", eventsN("E", 1, 1), eventstore.ExpectNoStream())
		require.NoError(t, err)
		_, err = b.AppendToStream(ctx, "two-1", eventsN("E", 2, 1), eventstore.ExpectNoStream())
		assert.ErrorIs(t, err, eventstore.ErrVersionConflict)
		res, err := b.AppendToStream(ctx, "two-1", eventsN("E", 2, 1), eventstore.ExpectVersion(1))
		require.NoError(t, err)
		assert.Equal(t, int64(2), res.NextExpectedVersion)

		var wg sync.WaitGroup
		for _, s := range []*sqlite.Store{a, b} {
			wg.Go(func() {
				for range 50 {
					_, err := s.AppendToStream(ctx, "two-2", eventsN("E", 0, 3))
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		v, _, err := a.StreamVersion(ctx, "two-2")
		require.NoError(t, err)
		assert.Equal(t, int64(300), v)
		var last int64
		for e, err := range a.ReadAll(ctx, eventstore.Position{}) {
			require.NoError(t, err)
			assert.Equal(t, last+1, e.GlobalPosition)
			last = e.GlobalPosition
		}
		assert.Equal(t, int64(302), last)
	})
}
