package projectiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testQueriesMatchTheReference runs random queries over random documents
// and checks that the backend selects exactly the documents
// backend.Match selects (its query translation, for a backend that
// turns queries into SQL), and counts as many, at the store and in a
// transaction.
func testQueriesMatchTheReference(t *testing.T, b Backend) {
	queries := 500
	if testing.Short() {
		queries = 200
	}
	queriesMatchTheReference(t, b, "random_docs", queries, nil)
}

// queriesMatchTheReference is testQueriesMatchTheReference on collection,
// with that many queries, and indexes on the fields at indexed (see
// indexedPaths) ensured before (the first half) and after (the rest) the
// documents are stored.
func queriesMatchTheReference(t *testing.T, b Backend, collection string, queries int, indexed []string) {
	ctx := background(t)
	docs := b.Documents()
	for _, path := range indexed[:len(indexed)/2] {
		require.NoError(t, docs.EnsureIndex(ctx, collection, path))
	}
	r := rand.New(rand.NewPCG(11, 5))
	g := &jsonGen{r: r}
	stored := map[string][]byte{}
	for i := range 100 {
		id := fmt.Sprintf("doc-%03d", i)
		doc := []byte(g.document())
		require.True(t, json.Valid(doc), "%s", doc)
		stored[id] = doc
		require.NoError(t, docs.Put(ctx, collection, id, doc))
	}
	for _, path := range indexed[len(indexed)/2:] {
		require.NoError(t, docs.EnsureIndex(ctx, collection, path))
	}
	ids := slices.Sorted(maps.Keys(stored))
	var all [][]byte
	for _, id := range ids {
		all = append(all, stored[id])
	}
	hits := 0
	for i := range queries {
		q := projection.Query{}
		for range 1 + r.IntN(2) {
			q.Conditions = append(q.Conditions, g.condition(all))
		}
		if r.IntN(5) == 0 {
			q.Limit = 1 + r.IntN(5)
		}
		var want []string
		matches := 0
		for _, id := range ids {
			ok, err := backend.Match(stored[id], q)
			require.NoError(t, err)
			if !ok {
				continue
			}
			matches++
			if q.Limit == 0 || len(want) < q.Limit {
				want = append(want, id)
			}
		}
		if matches > 0 && matches < len(ids) {
			hits++
		}
		desc := describe(q)
		require.Equal(t, want, findIDs(t, docs, collection, q), "query %d: %s", i, desc)
		n, err := docs.Count(ctx, collection, q)
		require.NoError(t, err)
		assert.Equal(t, int64(matches), n, "count of query %d (its limit ignored): %s", i, desc)
		if i%20 == 0 {
			// The same inside a processor's transaction.
			err := b.Processors().Commit(ctx, "query-check", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
				assert.Equal(t, want, findIDs(t, tx.Documents(), collection, q), "in a transaction, query %d: %s", i, desc)
				return errors.New("roll back")
			})
			require.EqualError(t, err, "roll back")
		}
	}
	t.Logf("%d of %d queries selected some of the documents, not all", hits, queries)
	assert.Greater(t, hits, queries/4, "the generator makes queries that discriminate")
}

func findIDs(t *testing.T, docs projection.DocumentStore, collection string, q projection.Query) []string {
	t.Helper()
	var out []string
	for d, err := range docs.Find(background(t), collection, q) {
		require.NoError(t, err)
		out = append(out, d.ID)
	}
	return out
}

func describe(q projection.Query) string {
	var parts []string
	for _, c := range q.Conditions {
		if c.Op == projection.OpEq {
			parts = append(parts, fmt.Sprintf("Eq(%s, %s)", strings.Join(c.Path, "."), c.Value))
		} else {
			parts = append(parts, fmt.Sprintf("Contains(%s)", c.Value))
		}
	}
	return fmt.Sprintf("%s limit %d", strings.Join(parts, " AND "), q.Limit)
}

// jsonGen makes random JSON texts from a small vocabulary, so that
// conditions often hit: numbers written in several forms (some that are
// one float64 and two decimals), strings that look like numbers, keys that
// need quoting in a JSON path, keys that cannot be in a path (with a '.'),
// a key that looks like an array index, and scalars and arrays of them at
// one path in different documents.
type jsonGen struct{ r *rand.Rand }

// indexedPaths are the fields the random queries' second run has indexes
// on: every key of genEqKeys that an index path can have, and two-key
// paths of a few of them.
func indexedPaths() []string {
	var out []string
	for _, k := range genEqKeys {
		if projection.ValidateIndexPath(k) == nil {
			out = append(out, k)
		}
	}
	for _, k := range []string{"a", "b", "é"} {
		for _, sub := range []string{"a", "c", "x y", "0", "é"} {
			out = append(out, k+"."+sub)
		}
	}
	return out
}

var (
	genKeys    = []string{"a", "b", "c", "x y", "k.z", "0", `q"k`, `b\s`, "é"}
	genEqKeys  = []string{"a", "b", "c", "x y", "0", `q"k`, "é"}
	genNumbers = []string{"0", "1", "1.0", "1e0", "10", "-2", "1.5", "15e-1", "9007199254740993", "9007199254740992",
		"1e20", "100000000000000000000", "-0", "0.1", "0.10000000000000001", "2.5e-324", "1e-400"}
	genStrings = []string{`""`, `"a"`, `"b"`, `"10"`, `"1"`, `"é"`, `"\u00e9"`, `"q\"uote"`, `"true"`, `"null"`}
)

func (g *jsonGen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g *jsonGen) scalar() string {
	switch g.r.IntN(6) {
	case 0, 1:
		return g.pick(genNumbers)
	case 2, 3:
		return g.pick(genStrings)
	case 4:
		return g.pick([]string{"true", "false"})
	default:
		return "null"
	}
}

func (g *jsonGen) value(depth int) string {
	if depth >= 3 {
		return g.scalar()
	}
	switch g.r.IntN(5) {
	case 0:
		return g.object(depth+1, 3)
	case 1:
		return g.array(depth + 1)
	default:
		return g.scalar()
	}
}

func (g *jsonGen) object(depth, most int) string {
	keys := slices.Clone(genKeys)
	g.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	n := g.r.IntN(most + 1)
	parts := make([]string, 0, n)
	for _, k := range keys[:n] {
		kj, _ := json.Marshal(k)
		parts = append(parts, string(kj)+":"+g.value(depth))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (g *jsonGen) array(depth int) string {
	n := g.r.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.value(depth)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (g *jsonGen) document() string {
	switch g.r.IntN(12) {
	case 0:
		return g.array(1)
	case 1:
		return g.scalar()
	default:
		return g.object(0, 5)
	}
}

// subset returns part of a decoded JSON value: some of an object's keys and
// of an array's elements, recursively, so that the value contains it.
func (g *jsonGen) subset(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if g.r.IntN(2) == 0 {
				out[k] = g.subset(v[k])
			}
		}
		return out
	case []any:
		var out []any
		for _, x := range v {
			if g.r.IntN(2) == 0 {
				out = append(out, g.subset(x))
			}
		}
		return out
	}
	return v
}

// fromDocument derives a condition from a stored document, one it (and
// others like it) often satisfies.
func (g *jsonGen) fromDocument(doc []byte) (projection.Condition, bool) {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return projection.Condition{}, false
	}
	if g.r.IntN(2) == 0 {
		return projection.Contains(g.subset(v)), true
	}
	var path []string
	for {
		obj, ok := v.(map[string]any)
		if !ok || len(obj) == 0 {
			break
		}
		keys := slices.Sorted(maps.Keys(obj))
		k := keys[g.r.IntN(len(keys))]
		path, v = append(path, k), obj[k]
		if g.r.IntN(2) == 0 {
			break
		}
	}
	if len(path) == 0 || slices.ContainsFunc(path, func(k string) bool { return strings.Contains(k, ".") }) {
		return projection.Condition{}, false
	}
	if arr, ok := v.([]any); ok && len(arr) > 0 && g.r.IntN(3) == 0 {
		// A scalar of an array, which Eq must not find in it.
		return projection.Eq(strings.Join(path, "."), arr[0]), true
	}
	return projection.Eq(strings.Join(path, "."), v), true
}

func (g *jsonGen) condition(docs [][]byte) projection.Condition {
	if g.r.IntN(2) == 0 {
		if c, ok := g.fromDocument(docs[g.r.IntN(len(docs))]); ok {
			return c
		}
	}
	if g.r.IntN(2) == 0 {
		path := []string{g.pick(genEqKeys)}
		for g.r.IntN(3) == 0 {
			path = append(path, g.pick(genEqKeys))
		}
		var v any
		raw := g.value(2)
		if g.r.IntN(8) == 0 {
			raw = g.object(2, 2)
		}
		_ = json.Unmarshal([]byte(raw), &v)
		return projection.Eq(strings.Join(path, "."), v)
	}
	var sub string
	switch g.r.IntN(6) {
	case 0:
		sub = g.array(2)
	case 1:
		sub = g.scalar()
	default:
		sub = g.object(1, 2)
	}
	return projection.Contains(json.RawMessage(sub))
}
