package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireIndex requires the backend to have (or not) the index on the field
// at path of collection, where Config.HasIndex can tell.
func requireIndex(t *testing.T, cfg Config, b Backend, collection, path string, want bool) {
	t.Helper()
	if cfg.HasIndex == nil {
		return
	}
	got, err := cfg.HasIndex(background(t), b, collection, path)
	require.NoError(t, err)
	require.Equal(t, want, got, "index on %s of %s", path, collection)
}

func testIndexes(t *testing.T, cfg Config) {
	t.Run("EnsureIndex", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		b := cfg.New(t)
		docs := b.Documents()
		const coll = "idx_counters"
		requireIndex(t, cfg, b, coll, "group.name", false)
		require.NoError(t, docs.EnsureIndex(ctx, coll, "group.name"), "a collection nothing was written to")
		require.NoError(t, docs.EnsureIndex(ctx, coll, "group.name"), "again: nothing to do")
		requireIndex(t, cfg, b, coll, "group.name", true)
		c := projection.NewCollection[Counter](docs, coll)
		n, err := c.Count(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "the collection is there, empty")

		groups := []string{"a", "b", "b \"quoted\" ' name"}
		for i := range 6 {
			require.NoError(t, c.Put(ctx, fmt.Sprintf("c-%d", i), Counter{Total: 10 * (i % 2), Count: i, Group: Group{Name: groups[i%3]}}))
		}
		require.NoError(t, docs.EnsureIndex(ctx, coll, "total"), "a collection with documents")
		requireIndex(t, cfg, b, coll, "total", true)
		requireIndex(t, cfg, b, coll, "count", false)

		ids := func(conds ...projection.Condition) []string {
			return findIDs(t, docs, coll, projection.Query{Conditions: conds})
		}
		assert.Equal(t, []string{"c-0", "c-3"}, ids(projection.Eq("group.name", "a")))
		assert.Equal(t, []string{"c-2", "c-5"}, ids(projection.Eq("group.name", groups[2])))
		assert.Equal(t, []string{"c-1", "c-3", "c-5"}, ids(projection.Eq("total", 10)))
		assert.Equal(t, []string{"c-1", "c-3", "c-5"}, ids(projection.Eq("total", 10.0)))
		assert.Empty(t, ids(projection.Eq("total", "10")), "a string is not a number")
		assert.Equal(t, []string{"c-1"}, ids(projection.Eq("total", 10), projection.Eq("group.name", "b")))
		n, err = c.Count(ctx, projection.Eq("group.name", "b"))
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)

		// The indexes follow the writes.
		require.NoError(t, c.Put(ctx, "c-0", Counter{Total: 11, Group: Group{Name: "b"}}))
		require.NoError(t, c.Delete(ctx, "c-1"))
		assert.Equal(t, []string{"c-0", "c-4"}, ids(projection.Eq("group.name", "b")))
		assert.Equal(t, []string{"c-0"}, ids(projection.Eq("total", 11)))
		assert.Equal(t, []string{"c-3", "c-5"}, ids(projection.Eq("total", 10)))
	})

	t.Run("ContainsIndex", func(t *testing.T) {
		// projection.ContainsIndex, the index on whole documents, is
		// declared like an index on a field, on every backend (only
		// PostgreSQL has one: see its own tests), and changes no result.
		t.Parallel()
		ctx := background(t)
		counters := Counters("idx_contains", projection.WithIndexes(projection.ContainsIndex, "total"))
		assert.Equal(t, []projection.Index{{Collection: "idx_contains", Path: projection.ContainsIndex}, {Collection: "idx_contains", Path: "total"}},
			counters.Indexes())
		b := cfg.New(t, counters)
		requireIndex(t, cfg, b, "idx_contains", "total", true)
		docs := b.Documents()
		require.NoError(t, docs.EnsureIndex(ctx, "idx_contains", projection.ContainsIndex), "declared: nothing to do")
		require.NoError(t, docs.EnsureIndex(ctx, "idx_contains_later", projection.ContainsIndex), "a collection nothing was written to")
		require.NoError(t, docs.EnsureIndex(ctx, "idx_contains_later", projection.ContainsIndex), "again")
		n, err := projection.NewCollection[Counter](docs, "idx_contains_later").Count(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "the collection is there, empty")

		Append(t, b, "counter-1", Incremented{By: 2, Group: "g1"}, Tagged{Tag: "x"})
		Append(t, b, "counter-2", Incremented{By: 3, Group: "g2"})
		Append(t, b, "counter-1", Incremented{By: 1, Group: "g1"})
		coll := counters.Collection(docs)
		found, err := coll.Find(ctx, projection.Contains(map[string]any{"tags": []string{"x"}}))
		require.NoError(t, err)
		if assert.Len(t, found, 1) {
			assert.Equal(t, 3, found[0].Total)
		}
		n, err = coll.Count(ctx, projection.Contains(map[string]any{"group": map[string]any{"name": "g2"}}), projection.Eq("total", 3))
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
	})

	t.Run("InATransaction", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		b := cfg.New(t)
		err := b.Processors().Commit(ctx, "indexer", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			if err := tx.Documents().EnsureIndex(ctx, "idx_rolled_back", "a"); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		require.EqualError(t, err, "roll back")
		requireIndex(t, cfg, b, "idx_rolled_back", "a", false)
		require.NoError(t, b.Documents().EnsureIndex(ctx, "idx_rolled_back", "a"), "the store did not take the index for created")
		requireIndex(t, cfg, b, "idx_rolled_back", "a", true)

		require.NoError(t, b.Processors().Commit(ctx, "indexer", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			docs := tx.Documents()
			if err := docs.EnsureIndex(ctx, "idx_in_tx", "a.b"); err != nil {
				return err
			}
			if err := docs.Put(ctx, "idx_in_tx", "x", []byte(`{"a":{"b":"y"}}`)); err != nil {
				return err
			}
			n, err := docs.Count(ctx, "idx_in_tx", projection.Query{Conditions: []projection.Condition{projection.Eq("a.b", "y")}})
			if err == nil && n != 1 {
				err = fmt.Errorf("the transaction counts %d documents, not 1", n)
			}
			return err
		}))
		requireIndex(t, cfg, b, "idx_in_tx", "a.b", true)
	})

	t.Run("BadInput", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		b := cfg.New(t)
		docs := b.Documents()
		for _, path := range []string{"", ".", "a.", ".a", "a..b", `a"b`, `a\b`, "a\x00b", "a\nb", "bad\xffkey"} {
			assert.ErrorIs(t, docs.EnsureIndex(ctx, "idx_bad", path), projection.ErrInvalidIndex, "%q", path)
			assert.ErrorIs(t, projection.ValidateIndexPath(path), projection.ErrInvalidIndex, "%q", path)
		}
		assert.Panics(t, func() { Counters("idx_bad", projection.WithIndexes(`a"b`)) }, "a projection that declares a bad path")
		for _, name := range append([]string{"Bad", "1x", "x; drop table emt_messages"}, cfg.ReservedCollections...) {
			assert.ErrorIs(t, docs.EnsureIndex(ctx, name, "a"), projection.ErrInvalidCollection, name)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		assert.ErrorIs(t, docs.EnsureIndex(cctx, "idx_bad", "a"), context.Canceled)
		requireIndex(t, cfg, b, "idx_bad", "a", false)
	})

	t.Run("InlineProjection", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		counters := Counters("idx_inline", projection.WithIndexes("total", "group.name", "total"))
		assert.Equal(t, []projection.Index{{Collection: "idx_inline", Path: "group.name"}, {Collection: "idx_inline", Path: "total"}},
			counters.Indexes(), "each path once, in order")
		b := cfg.New(t, counters)
		requireIndex(t, cfg, b, "idx_inline", "group.name", true) // the store created them when it opened
		requireIndex(t, cfg, b, "idx_inline", "total", true)
		Append(t, b, "counter-1", Incremented{By: 2, Group: "g1"})
		Append(t, b, "counter-2", Incremented{By: 3, Group: "g2"})
		Append(t, b, "counter-1", Incremented{By: 1, Group: "g1"})
		found, ok, err := counters.Collection(b.Documents()).FindOne(ctx, projection.Eq("group.name", "g1"))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, 3, found.Total)
		n, err := counters.Collection(b.Documents()).Count(ctx, projection.Eq("total", 3))
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
	})

	t.Run("Processor", func(t *testing.T) {
		t.Parallel()
		// A processor's projection that declares an index on a
		// collection that has documents (of an earlier version of the
		// application, without it) adds it with its first batch.
		ctx := background(t)
		b := cfg.New(t)
		docs := b.Documents()
		require.NoError(t, docs.Put(ctx, "idx_async", "earlier", []byte(`{"total":7,"group":{"name":"g1"}}`)))
		requireIndex(t, cfg, b, "idx_async", "group.name", false)
		counters := Counters("idx_async", projection.WithIndexes("group.name"))
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), counters)
		start(t, p)
		waitFor(t, p, appendMany(t, b, "counter", 12, 3))
		requireIndex(t, cfg, b, "idx_async", "group.name", true)
		var want int64
		for _, d := range allDocuments[Counter](t, docs, "idx_async") {
			if d.Group.Name == "g1" {
				want++
			}
		}
		require.Greater(t, want, int64(1), "the earlier document and counters")
		n, err := counters.Collection(docs).Count(ctx, projection.Eq("group.name", "g1"))
		require.NoError(t, err)
		assert.Equal(t, want, n)
	})

	t.Run("QueriesMatchTheReference", func(t *testing.T) {
		t.Parallel()
		queries := 200
		if testing.Short() {
			queries = 100
		}
		queriesMatchTheReference(t, cfg.New(t), "random_indexed", queries, indexedPaths())
	})
}
