package projectiontest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testDocuments(t *testing.T, cfg Config) {
	ctx := background(t)
	b := cfg.New(t)
	docs := b.Documents()
	c := projection.NewCollection[Counter](docs, "doc_counters")
	seed := map[string]Counter{
		"c-1": {Total: 10, Count: 1, Tags: []string{"red", "big"}, Group: Group{Name: "a"}, Active: true},
		"c-2": {Total: 20, Count: 2, Tags: []string{"blue"}, Group: Group{Name: "a"}, Active: false},
		"c-3": {Total: 10, Count: 3, Group: Group{Name: "b"}, Active: true},
		"c-4": {Total: 5, Count: 4, Tags: []string{"red"}, Group: Group{Name: "b \"quoted\" ' name"}, Active: true},
	}
	for id, d := range seed {
		require.NoError(t, c.Put(ctx, id, d))
	}
	ids := func(t *testing.T, conds ...projection.Condition) []int {
		t.Helper()
		found, err := c.Find(ctx, conds...)
		require.NoError(t, err)
		var out []int
		for _, d := range found {
			out = append(out, d.Count)
		}
		return out
	}

	t.Run("Get", func(t *testing.T) {
		got, found, err := c.Get(ctx, "c-1")
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, seed["c-1"], got)
		_, found, err = c.Get(ctx, "missing")
		require.NoError(t, err)
		assert.False(t, found)
	})
	t.Run("PutReplaces", func(t *testing.T) {
		require.NoError(t, c.Put(ctx, "tmp", Counter{Total: 1}))
		require.NoError(t, c.Put(ctx, "tmp", Counter{Total: 2}))
		got, _, err := c.Get(ctx, "tmp")
		require.NoError(t, err)
		assert.Equal(t, 2, got.Total)
		require.NoError(t, c.Delete(ctx, "tmp"))
		_, found, err := c.Get(ctx, "tmp")
		require.NoError(t, err)
		assert.False(t, found)
		require.NoError(t, c.Delete(ctx, "tmp"), "deleting a missing document is not an error")
	})
	t.Run("FindAllInIDOrder", func(t *testing.T) {
		assert.Equal(t, []int{1, 2, 3, 4}, ids(t))
	})
	t.Run("FindEqNumber", func(t *testing.T) {
		assert.Equal(t, []int{1, 3}, ids(t, projection.Eq("total", 10)))
	})
	t.Run("FindEqBool", func(t *testing.T) {
		assert.Equal(t, []int{1, 3, 4}, ids(t, projection.Eq("active", true)))
		assert.Equal(t, []int{2}, ids(t, projection.Eq("active", false)))
	})
	t.Run("FindEqNestedString", func(t *testing.T) {
		assert.Equal(t, []int{3}, ids(t, projection.Eq("group.name", "b")))
		assert.Equal(t, []int{4}, ids(t, projection.Eq("group.name", "b \"quoted\" ' name")), "values are parameters, not SQL")
	})
	t.Run("FindEqSeveral", func(t *testing.T) {
		assert.Equal(t, []int{1}, ids(t, projection.Eq("total", 10), projection.Eq("group.name", "a")))
	})
	t.Run("FindEqNoMatch", func(t *testing.T) {
		assert.Empty(t, ids(t, projection.Eq("total", 11)))
		assert.Empty(t, ids(t, projection.Eq("no.such.field", 1)))
		assert.Empty(t, ids(t, projection.Eq("total", "10")), "a string is not a number")
	})
	t.Run("FindContainsObject", func(t *testing.T) {
		assert.Equal(t, []int{1, 2}, ids(t, projection.Contains(map[string]any{"group": map[string]any{"name": "a"}})))
	})
	t.Run("FindContainsArrayElement", func(t *testing.T) {
		assert.Equal(t, []int{1, 4}, ids(t, projection.Contains(map[string]any{"tags": []string{"red"}})))
		assert.Equal(t, []int{1}, ids(t, projection.Contains(map[string]any{"tags": []string{"big", "red"}, "active": true})))
	})
	t.Run("FindContainsAndEq", func(t *testing.T) {
		assert.Equal(t, []int{4}, ids(t, projection.Contains(map[string]any{"tags": []string{"red"}}), projection.Eq("total", 5)))
	})
	t.Run("FindOneAndLimit", func(t *testing.T) {
		got, found, err := c.FindOne(ctx, projection.Eq("active", true))
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, 1, got.Count)
		limited, err := c.FindQuery(ctx, projection.Query{Conditions: []projection.Condition{projection.Eq("active", true)}, Limit: 2})
		require.NoError(t, err)
		assert.Len(t, limited, 2)
	})
	t.Run("Count", func(t *testing.T) {
		n, err := c.Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(4), n)
		n, err = c.Count(ctx, projection.Eq("group.name", "a"))
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
	})
	t.Run("CollectionsAreSeparate", func(t *testing.T) {
		other := projection.NewCollection[Counter](docs, "doc_others")
		n, err := other.Count(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("BadInput", func(t *testing.T) {
		_, _, err := docs.Get(ctx, "Bad-Name", "x")
		assert.ErrorIs(t, err, projection.ErrInvalidCollection)
		assert.ErrorIs(t, docs.Put(ctx, "x; drop table emt_messages", "x", []byte(`{}`)), projection.ErrInvalidCollection)
		assert.ErrorIs(t, docs.Put(ctx, "doc_counters", "", []byte(`{}`)), projection.ErrInvalidDocument)
		assert.ErrorIs(t, docs.Put(ctx, "doc_counters", "bad", []byte(`{"a":`)), projection.ErrInvalidDocument)
		_, err = c.Find(ctx, projection.Eq("", 1))
		assert.ErrorIs(t, err, projection.ErrInvalidCondition)
		_, err = c.Find(ctx, projection.Eq("a", make(chan int)))
		assert.ErrorIs(t, err, projection.ErrInvalidCondition)
		_, err = c.Count(ctx, projection.Contains(json.RawMessage(`{"a":`)))
		assert.ErrorIs(t, err, projection.ErrInvalidCondition)
		n, err := c.Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(4), n, "nothing written")
	})
	t.Run("TextNoStoreKeeps", func(t *testing.T) {
		// Every store refuses what one of them cannot keep (PostgreSQL's
		// text and jsonb): ids and strings that are not valid UTF-8 or
		// hold NUL, and the valid JSON escapes that jsonb refuses.
		for _, id := range []string{"nul\x00x", "bad\xffx"} {
			assert.ErrorIs(t, docs.Put(ctx, "doc_counters", id, []byte(`{}`)), projection.ErrInvalidDocument, "%q", id)
			_, _, err := docs.Get(ctx, "doc_counters", id)
			assert.ErrorIs(t, err, projection.ErrInvalidDocument, "%q", id)
			assert.ErrorIs(t, docs.Delete(ctx, "doc_counters", id), projection.ErrInvalidDocument, "%q", id)
			_, _, err = c.Get(ctx, id)
			assert.ErrorIs(t, err, projection.ErrInvalidDocument, "%q", id)
		}
		for _, data := range []string{`{"a":"x\u0000y"}`, `{"\u0000":1}`, "{\"a\":\"bad\xffx\"}", `{"a":["\udc00"]}`} {
			assert.ErrorIs(t, docs.Put(ctx, "doc_counters", "text", []byte(data)), projection.ErrInvalidDocument, "%q", data)
		}
		assert.ErrorIs(t, c.Put(ctx, "text", Counter{Tags: []string{"x\x00"}}), projection.ErrInvalidDocument)
		for _, cond := range []projection.Condition{
			projection.Eq("group.name", "nul\x00x"),
			projection.Eq("group.name", "bad\xffx"),
			projection.Eq("group.na\x00me", "a"),
			projection.Eq("group.na\xffme", "a"),
			projection.Eq("tags", []string{"x\x00"}),
			projection.Contains(map[string]any{"group": map[string]any{"name": "x\x00"}}),
			projection.Contains(json.RawMessage(`{"a":"\u0000"}`)),
			projection.Contains(json.RawMessage("{\"a\":\"bad\xffx\"}")),
			projection.Contains(json.RawMessage(`["\ud800"]`)),
			{Op: projection.OpEq, Path: []string{"group", "name"}, Value: json.RawMessage(`"\u0000"`)}, // built by hand
			{Op: projection.OpEq, Path: []string{"a\x00"}, Value: json.RawMessage(`1`)},
		} {
			_, err := c.Find(ctx, cond)
			assert.ErrorIs(t, err, projection.ErrInvalidCondition, "%q %s", cond.Path, cond.Value)
			_, err = c.Count(ctx, cond)
			assert.ErrorIs(t, err, projection.ErrInvalidCondition, "%q %s", cond.Path, cond.Value)
			q := projection.Query{Conditions: []projection.Condition{cond}}
			_, err = docs.Count(ctx, "doc_counters", q)
			assert.ErrorIs(t, err, projection.ErrInvalidCondition, "the store checks: %q %s", cond.Path, cond.Value)
			var findErr error
			for _, err := range docs.Find(ctx, "doc_counters", q) {
				findErr = err
				break
			}
			assert.ErrorIs(t, findErr, projection.ErrInvalidCondition, "the store checks: %q %s", cond.Path, cond.Value)
		}
		n, err := c.Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(4), n, "nothing written")

		// What every store keeps: other escapes, surrogate pairs, an
		// escaped backslash before "u0000", ids in any script.
		text := projection.NewCollection[map[string]any](docs, "doc_text")
		data := `{"s":"smörgås \u00e9 \u0001 \ud83d\ude00 \\u0000","日本":["\t"]}`
		require.NoError(t, docs.Put(ctx, "doc_text", "ünï-日本-\U0001F600", []byte(data)))
		got, found, err := docs.Get(ctx, "doc_text", "ünï-日本-\U0001F600")
		require.NoError(t, err)
		require.True(t, found)
		assert.JSONEq(t, data, string(got))
		found2, err := text.Find(ctx, projection.Eq("s", "smörgås é \x01 \U0001F600 \\u0000"))
		require.NoError(t, err)
		assert.Len(t, found2, 1)
		found2, err = text.Find(ctx, projection.Contains(map[string]any{"日本": []string{"\t"}}))
		require.NoError(t, err)
		assert.Len(t, found2, 1)
		require.NoError(t, docs.Delete(ctx, "doc_text", "ünï-日本-\U0001F600"))
	})
	t.Run("CollectionNames", func(t *testing.T) {
		Append(t, b, "kept-1", Incremented{By: 1})
		names := append([]string{"Bad", "1x", "a-b", `x"y`, "x; drop table emt_messages"}, cfg.ReservedCollections...)
		for _, name := range names {
			assert.ErrorIs(t, docs.Put(ctx, name, "x", []byte(`{}`)), projection.ErrInvalidCollection, name)
			assert.ErrorIs(t, docs.Delete(ctx, name, "x"), projection.ErrInvalidCollection, name)
			assert.ErrorIs(t, docs.DeleteAll(ctx, name), projection.ErrInvalidCollection, name)
			_, _, err := docs.Get(ctx, name, "x")
			assert.ErrorIs(t, err, projection.ErrInvalidCollection, name)
			_, err = docs.Count(ctx, name, projection.Query{})
			assert.ErrorIs(t, err, projection.ErrInvalidCollection, name)
			var findErr error
			for _, err := range docs.Find(ctx, name, projection.Query{}) {
				findErr = err
				break
			}
			assert.ErrorIs(t, findErr, projection.ErrInvalidCollection, name)
		}
		v, _, err := b.StreamVersion(ctx, "kept-1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v, "the event store's tables are untouched")
	})
	t.Run("TableDroppedBehindTheStore", func(t *testing.T) {
		if cfg.DropTable == nil {
			t.Skip("no Config.DropTable (a backend without tables)")
		}
		require.NoError(t, docs.Put(ctx, "dropped", "a", []byte(`{"n":1}`)))
		require.NoError(t, b.Processors().Commit(ctx, "dropper", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			return cfg.DropTable(ctx, tx, "dropped")
		}))
		_, found, err := docs.Get(ctx, "dropped", "a")
		require.NoError(t, err)
		assert.False(t, found)
		n, err := docs.Count(ctx, "dropped", projection.Query{})
		require.NoError(t, err)
		assert.Zero(t, n)
		require.NoError(t, docs.Put(ctx, "dropped", "b", []byte(`{"n":2}`)), "the store creates the table again")
		got, found, err := docs.Get(ctx, "dropped", "b")
		require.NoError(t, err)
		require.True(t, found)
		assert.JSONEq(t, `{"n":2}`, string(got))
	})
	t.Run("CancelledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, _, err := c.Get(cctx, "c-1")
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, c.Put(cctx, "c-9", Counter{}), context.Canceled)
	})
	t.Run("ManyDocuments", func(t *testing.T) {
		many := projection.NewCollection[GroupTotal](docs, "doc_many")
		for i := range 300 {
			require.NoError(t, many.Put(ctx, fmt.Sprintf("g-%04d", i), GroupTotal{Group: "g", Total: i}))
		}
		n, err := many.Count(ctx, projection.Eq("group", "g"))
		require.NoError(t, err)
		assert.Equal(t, int64(300), n)
		all, err := many.Find(ctx)
		require.NoError(t, err)
		require.Len(t, all, 300)
		for i, d := range all {
			assert.Equal(t, i, d.Total, "id order")
		}
		// The iterator pages through them alike, and stops when asked.
		i := 0
		for d, err := range many.All(ctx, projection.Query{Conditions: []projection.Condition{projection.Eq("group", "g")}}) {
			require.NoError(t, err)
			require.Equal(t, i, d.Total, "id order")
			if i++; i == 250 {
				break
			}
		}
		assert.Equal(t, 250, i)
		for _, err := range many.All(ctx, projection.Query{Conditions: []projection.Condition{projection.Eq("", 1)}}) {
			assert.ErrorIs(t, err, projection.ErrInvalidCondition)
		}
	})
	t.Run("QueriesMatchTheReference", func(t *testing.T) { testQueriesMatchTheReference(t, b) })
	t.Run("DeleteAll", func(t *testing.T) {
		require.NoError(t, docs.DeleteAll(ctx, "doc_counters"))
		n, err := c.Count(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		require.NoError(t, docs.DeleteAll(ctx, "doc_never_used"), "an unused collection can be emptied")
	})
}
