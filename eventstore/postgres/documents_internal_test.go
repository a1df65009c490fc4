package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/internal/docsql/indextest"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueriesUseTheIndex checks, with EXPLAIN on a few thousand documents,
// that the statements Find runs use the GIN index on data, once declared
// (projection.ContainsIndex), for containment and for Eq on strings, and
// that Eq on a number (compared as float64, as backend.Match does) is the
// documented scan.
func TestQueriesUseTheIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 5000
	s := openWithDocuments(ctx, t, "gin_docs", n, func(i int) (string, string) {
		return fmt.Sprintf("d-%05d", i), fmt.Sprintf(`{"status":"s%d","group":{"name":"g%d"},"tags":["t%d","all"],"n":%d}`, i%100, i%50, i%20, i)
	})
	_, err := s.pool.Exec(ctx, "ANALYZE gin_docs")
	require.NoError(t, err)

	explain := func(conds ...projection.Condition) string {
		t.Helper()
		plan, err := planQuery(projection.Query{Conditions: conds})
		require.NoError(t, err)
		query, args := pageSQL("gin_docs", plan, s.idOrder(), "", true, docsql.PageSize)
		rows, err := s.pool.Query(ctx, "EXPLAIN "+query, args...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out := strings.Join(lines, "\n")

		// And the statement finds what Match finds.
		var want, got int
		for i := range n {
			doc := fmt.Sprintf(`{"status":"s%d","group":{"name":"g%d"},"tags":["t%d","all"],"n":%d}`, i%100, i%50, i%20, i)
			ok, err := backend.Match([]byte(doc), projection.Query{Conditions: conds})
			require.NoError(t, err)
			if ok {
				want++
			}
		}
		for _, err := range s.Documents().Find(ctx, "gin_docs", projection.Query{Conditions: conds}) {
			require.NoError(t, err)
			got++
		}
		assert.Equal(t, want, got, "%s", query)
		return out
	}
	assert.NotContains(t, explain(projection.Contains(map[string]any{"status": "s7"})), "gin_docs_data_idx", "no GIN index until one is declared")
	require.NoError(t, s.Documents().EnsureIndex(ctx, "gin_docs", projection.ContainsIndex))
	_, err = s.pool.Exec(ctx, "VACUUM ANALYZE gin_docs") // as autovacuum would: flushes the GIN pending list
	require.NoError(t, err)

	const usesIndex = "Bitmap Index Scan on gin_docs_data_idx"
	assert.Contains(t, explain(projection.Contains(map[string]any{"status": "s7"})), usesIndex)
	assert.Contains(t, explain(projection.Contains(map[string]any{"tags": []string{"t3"}})), usesIndex)
	assert.Contains(t, explain(projection.Eq("group.name", "g7")), usesIndex)
	assert.Contains(t, explain(projection.Eq("tags", []string{"t3", "all"})), usesIndex)
	assert.Contains(t, explain(projection.Contains(map[string]any{"status": "s7", "n": 707})), usesIndex,
		"with a number, the rest of the containment narrows down through the index")
	assert.Contains(t, explain(projection.Eq("n", 707), projection.Eq("status", "s7")), usesIndex)
	assert.NotContains(t, explain(projection.Eq("n", 707)), usesIndex, "a number alone is compared as float64: a scan")
}

// openWithDocuments opens a store on a new database and puts n documents
// (doc returns the id and the JSON of each) in a collection, in one
// transaction.
func openWithDocuments(ctx context.Context, t *testing.T, collection string, n int, doc func(i int) (id, data string)) *Store {
	t.Helper()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		docs := s.newTx(ctx, tx, false).Documents()
		for i := range n {
			id, data := doc(i)
			if err := docs.Put(ctx, collection, id, []byte(data)); err != nil {
				return err
			}
		}
		return nil
	}))
	return s
}

// TestQueriesUseTheDeclaredIndexes checks with EXPLAIN, on a few thousand
// documents, that the statements Find and Count run for Eq on a field with
// an index (EnsureIndex) use that index, on a first page and on a later
// one (see indextest.Cases; Contains is for the GIN index), and that they
// find what backend.Match finds. The table is not analyzed (nor is
// enable_seqscan turned off): the planner chooses the index on what
// creating it told it.
func TestQueriesUseTheDeclaredIndexes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n, coll = 5000, indextest.Collection
	s := openWithDocuments(ctx, t, coll, n, func(i int) (string, string) { return indextest.ID(i), indextest.Document(i) })
	for _, path := range indextest.Paths {
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
	for _, c := range indextest.Cases {
		if c.Query.Conditions[0].Op == projection.OpContains {
			continue // data @>, for the GIN index (TestQueriesUseTheIndex)
		}
		plan, err := planQuery(c.Query)
		require.NoError(t, err)
		require.Empty(t, plan.InGo.Conditions, "all in SQL")
		first, firstArgs := pageSQL(coll, plan, s.idOrder(), "", true, docsql.PageSize)
		later, laterArgs := pageSQL(coll, plan, s.idOrder(), indextest.ID(10), false, 1)
		index := `"` + docsql.IndexName(coll, c.Path) + `"`
		for kind, plan := range map[string]string{
			"first page": explain(first, firstArgs),
			"later page": explain(later, laterArgs),
			"count":      explain(`SELECT count(*) FROM "`+coll+`" AS d WHERE TRUE`+plan.Where, plan.Args),
		} {
			assert.True(t, strings.Contains(plan, "Index Scan using "+index) || strings.Contains(plan, "Bitmap Index Scan on "+index),
				"%s, %s: %s", c.Path, kind, plan)
		}
		indextest.RequireFindsWhatMatchFinds(ctx, t, s.Documents(), n, c)
	}
}

// TestRoundingInterval checks the decimal intervals numbers are compared
// with against Go's own parsing, at their bounds.
func TestRoundingInterval(t *testing.T) {
	t.Parallel()
	parse := func(s string) (float64, bool) {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return 0, false
		}
		return v.(float64), true
	}
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 10, 1.5, 9007199254740992, 9007199254740993, 1e20, 5e-324, -5e-324,
		2.2250738585072014e-308, math.MaxFloat64, -math.MaxFloat64, math.Nextafter(1, 2), 1 << 53, 3.0000000000000004} {
		lo, hi, closed := roundingInterval(v)
		for _, bound := range []string{lo, hi} {
			got, ok := parse(bound)
			if closed {
				assert.True(t, ok && got == v, "%v: the bound %s rounds to it (closed interval)", v, bound)
			} else {
				assert.False(t, ok && got == v, "%v: the bound %s does not round to it (open interval)", v, bound)
			}
			// Just inside the bound rounds to v, just outside does not.
			b, _ := new(big.Rat).SetString(bound)
			center := new(big.Rat).SetFloat64(v)
			tiny := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), 1200))
			inside := new(big.Rat).Set(b)
			outside := new(big.Rat).Set(b)
			if b.Cmp(center) > 0 {
				inside.Sub(inside, tiny)
				outside.Add(outside, tiny)
			} else {
				inside.Add(inside, tiny)
				outside.Sub(outside, tiny)
			}
			in, ok := parse(inside.FloatString(1300))
			assert.True(t, ok && in == v, "%v: just inside %s", v, bound)
			out, ok := parse(outside.FloatString(1300))
			assert.False(t, ok && out == v, "%v: just outside %s", v, bound)
		}
	}
}

// TestNoLostWriteInProcessorTransactions checks a processor's transaction
// that reads a document another transaction writes before it writes it
// back: its write fails, as one to try again, rather than lose the other.
func TestNoLostWriteInProcessorTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	docs := s.Documents()
	require.NoError(t, docs.Put(ctx, "conflicts", "d", []byte(`{"n":0}`)))

	for _, missing := range []bool{false, true} {
		id := "d"
		if missing {
			id = "new"
		}
		err := s.Processors().Commit(ctx, "writer", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			if _, _, err := tx.Documents().Get(ctx, "conflicts", id); err != nil {
				return err
			}
			// Another transaction writes it meanwhile.
			if err := docs.Put(ctx, "conflicts", id, []byte(`{"n":2}`)); err != nil {
				return err
			}
			return tx.Documents().Put(ctx, "conflicts", id, []byte(`{"n":1}`))
		})
		require.ErrorIs(t, err, errDocumentChanged, "missing %v", missing)
		assert.True(t, isRetryable(err))
		got, _, err := docs.Get(ctx, "conflicts", id)
		require.NoError(t, err)
		assert.JSONEq(t, `{"n":2}`, string(got), "the other write stays")
	}

	// Written twice in one transaction, read in between: no conflict with
	// itself.
	require.NoError(t, s.Processors().Commit(ctx, "writer", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		d := tx.Documents()
		for i := range 3 {
			if _, _, err := d.Get(ctx, "conflicts", "d"); err != nil {
				return err
			}
			if err := d.Put(ctx, "conflicts", "d", []byte(fmt.Sprintf(`{"n":%d}`, 10+i))); err != nil {
				return err
			}
		}
		return nil
	}))
	got, _, err := docs.Get(ctx, "conflicts", "d")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":12}`, string(got))
}
