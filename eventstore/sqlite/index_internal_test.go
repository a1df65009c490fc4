package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/internal/docsql/indextest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryPlan returns the details of SQLite's EXPLAIN QUERY PLAN of query,
// on a reader connection, one line per step.
func queryPlan(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	conn, err := s.readers.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	// EXPLAIN does not check that the connection's copy of the schema is
	// current, as a query does: a query first, to see the new indexes.
	_, err = conn.ExecContext(t.Context(), "SELECT count(*) FROM sqlite_schema")
	require.NoError(t, err)
	rows, err := conn.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notUsed, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}

// TestQueriesUseTheIndexes checks with EXPLAIN QUERY PLAN that the queries
// Find and Count run for Eq (and Contains) on an indexed field, on a first
// page and on a later one, look the documents up in the field's index
// (see indextest.Cases), that without the index they do not, and that
// they find what backend.Match finds.
func TestQueriesUseTheIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "indexes.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	const n, coll = 2000, indextest.Collection
	require.NoError(t, s.writeTx(ctx, func(tx *sql.Tx) error {
		docs := s.docTx(tx)
		for i := range n {
			if err := docs.Put(ctx, coll, indextest.ID(i), []byte(indextest.Document(i))); err != nil {
				return err
			}
		}
		return nil
	}))
	plans := func(c indextest.Case) map[string]string {
		plan, err := planQuery(c.Query)
		require.NoError(t, err)
		require.Empty(t, plan.InGo.Conditions, "all in SQL")
		first, firstArgs := pageSQL(coll, plan, "", true, 500)
		later, laterArgs := pageSQL(coll, plan, indextest.ID(10), false, 1)
		return map[string]string{
			"first page": queryPlan(t, s, first, firstArgs),
			"later page": queryPlan(t, s, later, laterArgs),
			"count":      queryPlan(t, s, docCountSQL(coll, plan), plan.Args),
		}
	}
	for _, c := range indextest.Cases {
		for kind, plan := range plans(c) {
			assert.NotContains(t, plan, "USING INDEX "+coll+":", "%s, %s, no index yet", c.Path, kind)
		}
	}
	for _, path := range indextest.Paths {
		require.NoError(t, s.Documents().EnsureIndex(ctx, coll, path))
	}
	for _, c := range indextest.Cases {
		for kind, plan := range plans(c) {
			assert.Contains(t, plan, "USING INDEX "+coll+":"+c.Path+" (", "%s, %s", c.Path, kind)
		}
		indextest.RequireFindsWhatMatchFinds(ctx, t, s.Documents(), n, c)
	}
}
