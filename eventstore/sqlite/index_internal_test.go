package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/projection"
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
// Find and Count run for Eq on an indexed field (a string, a number, a
// nested field, alone or beside other conditions, on a first page and on
// a later one) look the documents up in the field's index, and that
// without the index they scan the collection.
func TestQueriesUseTheIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "indexes.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	docs := s.Documents()
	const coll = "carts"
	for i := range 200 {
		doc := fmt.Sprintf(`{"clientId":"client-%d","total":%d,"client":{"id":"c-%d","it's":"x"},"status":"Opened"}`, i%50, i, i%50)
		require.NoError(t, docs.Put(ctx, coll, fmt.Sprintf("cart-%03d", i), []byte(doc)))
	}
	cases := []struct {
		path  string
		conds []projection.Condition
	}{
		{"clientId", []projection.Condition{projection.Eq("clientId", "client-7")}},
		{"clientId", []projection.Condition{projection.Eq("status", "Opened"), projection.Eq("clientId", "client-7")}},
		{"total", []projection.Condition{projection.Eq("total", 42)}},
		{"client.id", []projection.Condition{projection.Eq("client.id", "c-3")}},
		{"client.it's", []projection.Condition{projection.Eq("client.it's", "x")}},
		{"clientId", []projection.Condition{projection.Contains(map[string]any{"clientId": "client-7"})}},
	}
	plans := func(q projection.Query) map[string]string {
		plan, err := planQuery(q)
		require.NoError(t, err)
		require.Empty(t, plan.InGo.Conditions, "all in SQL")
		first, firstArgs := pageSQL(coll, plan, "", true, 500)
		later, laterArgs := pageSQL(coll, plan, "cart-010", false, 1)
		return map[string]string{
			"first page": queryPlan(t, s, first, firstArgs),
			"later page": queryPlan(t, s, later, laterArgs),
			"count":      queryPlan(t, s, docCountSQL(coll, plan), plan.Args),
		}
	}
	for _, c := range cases {
		for kind, plan := range plans(projection.Query{Conditions: c.conds}) {
			assert.NotContains(t, plan, "USING INDEX carts:", "%s, %s, no index yet", c.path, kind)
		}
	}
	for _, c := range cases {
		require.NoError(t, docs.EnsureIndex(ctx, coll, c.path))
	}
	for _, c := range cases {
		for kind, plan := range plans(projection.Query{Conditions: c.conds}) {
			assert.Contains(t, plan, `USING INDEX carts:`+c.path+` (`, "%s, %s", c.path, kind)
		}
	}
}
