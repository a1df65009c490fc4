package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueriesUseTheDeclaredIndexes checks with EXPLAIN, on a few thousand
// documents, that the statements Find and Count run for Eq on a field with
// an index (EnsureIndex) use that index: a string, a number (compared as
// float64 through the range of jsonb that rounds to it), a nested field, a
// key with a quote, alone or beside other conditions, on a first page and
// on a later one; and that they find what backend.Match finds. The table
// is not analyzed (nor is enable_seqscan turned off): the planner chooses
// the index on what creating it told it.
func TestQueriesUseTheDeclaredIndexes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	const n, coll = 5000, "carts"
	doc := func(i int) string {
		return fmt.Sprintf(`{"clientId":"client-%d","total":%g,"client":{"id":"c-%d","it's":"x%d"},"status":"Opened"}`, i%1000, float64(i)/2, i%1000, i)
	}
	require.NoError(t, s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		docs := s.newTx(ctx, tx, false).Documents()
		for i := range n {
			if err := docs.Put(ctx, coll, fmt.Sprintf("cart-%05d", i), []byte(doc(i))); err != nil {
				return err
			}
		}
		return nil
	}))
	paths := []string{"clientId", "total", "client.id", "client.it's"}
	for _, path := range paths {
		require.NoError(t, s.Documents().EnsureIndex(ctx, coll, path))
		require.NoError(t, s.Documents().EnsureIndex(ctx, coll, path), "again: nothing to do")
	}

	explain := func(query string, args []any) string {
		t.Helper()
		rows, err := s.pool.Query(ctx, "EXPLAIN "+query, args...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return strings.Join(lines, "\n")
	}
	cases := []struct {
		path  string
		conds []projection.Condition
	}{
		{"clientId", []projection.Condition{projection.Eq("clientId", "client-7")}},
		{"clientId", []projection.Condition{projection.Eq("status", "Opened"), projection.Eq("clientId", "client-7")}},
		{"total", []projection.Condition{projection.Eq("total", 42)}},
		{"total", []projection.Condition{projection.Eq("total", 42.5)}},
		{"client.id", []projection.Condition{projection.Eq("client.id", "c-3")}},
		{"client.it's", []projection.Condition{projection.Eq("client.it's", "x12")}},
	}
	for _, c := range cases {
		q := projection.Query{Conditions: c.conds}
		plan, err := planQuery(q)
		require.NoError(t, err)
		require.Empty(t, plan.InGo.Conditions, "all in SQL")
		first, firstArgs := pageSQL(coll, plan, s.idOrder(), "", true, docsql.PageSize)
		later, laterArgs := pageSQL(coll, plan, s.idOrder(), "cart-00010", false, 1)
		index := `"` + docsql.IndexName(coll, c.path) + `"`
		for kind, plan := range map[string]string{
			"first page": explain(first, firstArgs),
			"later page": explain(later, laterArgs),
			"count":      explain(`SELECT count(*) FROM "`+coll+`" AS d WHERE TRUE`+plan.Where, plan.Args),
		} {
			assert.True(t, strings.Contains(plan, "Index Scan using "+index) || strings.Contains(plan, "Bitmap Index Scan on "+index),
				"%s, %s: %s", c.path, kind, plan)
		}

		// And the statement finds what Match finds.
		var want, got int
		for i := range n {
			ok, err := backend.Match([]byte(doc(i)), q)
			require.NoError(t, err)
			if ok {
				want++
			}
		}
		for _, err := range s.Documents().Find(ctx, coll, q) {
			require.NoError(t, err)
			got++
		}
		assert.Equal(t, want, got, "%v", c.conds)
		assert.NotZero(t, got)
	}
}
