package docsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateCollection(t *testing.T) {
	require.NoError(t, ValidateCollection("carts", []string{"emt_"}, "TestDB"))
	err := ValidateCollection("emt_messages", []string{"emt_"}, "TestDB")
	assert.ErrorIs(t, err, projection.ErrInvalidCollection)
	assert.ErrorContains(t, err, "TestDB's own tables")
	assert.ErrorIs(t, ValidateCollection("Bad", nil, "TestDB"), projection.ErrInvalidCollection)
}

// recorder is a Builder that writes the conditions' values and takes
// only Eq as exact.
type recorder struct{ written []string }

func (r *recorder) Condition(c projection.Condition, want any) (bool, error) {
	r.written = append(r.written, fmt.Sprint(want))
	return c.Op == projection.OpEq, nil
}

func (r *recorder) SQL() (string, []any) { return " AND " + strings.Join(r.written, " AND "), nil }

func TestPlanQuery(t *testing.T) {
	plan, err := PlanQuery(projection.Query{Conditions: []projection.Condition{projection.Eq("a", 1), projection.Contains(map[string]any{"b": "x"})}}, &recorder{})
	require.NoError(t, err)
	assert.Equal(t, " AND 1 AND map[b:x]", plan.Where)
	require.Len(t, plan.InGo.Conditions, 1)
	assert.Equal(t, projection.OpContains, plan.InGo.Conditions[0].Op)

	_, err = PlanQuery(projection.Query{Conditions: []projection.Condition{{Op: 9, Value: []byte("1")}}}, &recorder{})
	assert.ErrorContains(t, err, "unknown condition op")
	_, err = PlanQuery(projection.Query{Conditions: []projection.Condition{projection.Eq("", 1)}}, &recorder{})
	assert.Error(t, err)
}

// pages serves documents d00..d<n-1> a page at a time, as a table would.
func pages(n int, fetches *int) FetchPage {
	return func(page []projection.Document, after string, first bool, limit int) ([]projection.Document, error) {
		*fetches++
		for i := range n {
			id := fmt.Sprintf("d%04d", i)
			if (first || id > after) && len(page) < limit {
				page = append(page, projection.Document{ID: id, Data: fmt.Appendf(nil, `{"i":%d}`, i)})
			}
		}
		return page, nil
	}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	find := func(n, limit int, inGo projection.Query) (ids []string, fetches int) {
		err := Find(ctx, "test", "docs", limit, inGo, pages(n, &fetches), func(d projection.Document, err error) bool {
			require.NoError(t, err)
			ids = append(ids, d.ID)
			return true
		})
		require.NoError(t, err)
		return ids, fetches
	}
	ids, fetches := find(PageSize*2+3, 0, projection.Query{})
	assert.Len(t, ids, PageSize*2+3)
	assert.Equal(t, 3, fetches, "keyset pages")
	ids, fetches = find(PageSize*2, 7, projection.Query{})
	assert.Len(t, ids, 7)
	assert.Equal(t, 1, fetches, "a limit without conditions in Go bounds the page")
	even := projection.Query{Conditions: []projection.Condition{projection.Eq("i", 600)}}
	ids, _ = find(PageSize*2, 1, even)
	assert.Equal(t, []string{"d0600"}, ids, "conditions in Go filter, across pages")

	n, err := Count(func(yield func(projection.Document, error) bool) error {
		return Find(ctx, "test", "docs", 0, projection.Query{}, pages(10, new(int)), yield)
	})
	require.NoError(t, err)
	assert.Equal(t, int64(10), n)

	failing := func(page []projection.Document, _ string, _ bool, _ int) ([]projection.Document, error) {
		return append(page, projection.Document{ID: "x", Data: []byte("not json")}), nil
	}
	_, err = Count(func(yield func(projection.Document, error) bool) error {
		return Find(ctx, "test", "docs", 0, even, failing, yield)
	})
	assert.ErrorContains(t, err, `test: document "x" of docs`)

	gone := errors.New("no such table")
	err = Find(ctx, "test", "docs", 0, projection.Query{}, func([]projection.Document, string, bool, int) ([]projection.Document, error) {
		return nil, gone
	}, func(projection.Document, error) bool { return true })
	assert.ErrorIs(t, err, gone, "fetch's error is returned as it is")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var yielded error
	require.NoError(t, Find(cctx, "test", "docs", 0, projection.Query{}, pages(1, new(int)), func(_ projection.Document, err error) bool {
		yielded = err
		return false
	}))
	assert.ErrorIs(t, yielded, context.Canceled)
}

// textDialect writes conditions as text, to check the shape of the walk.
type textDialect struct{ sb *strings.Builder }

func (d textDialect) Write(s string)                     { d.sb.WriteString(s) }
func (d textDialect) TypeIs(n string, t string)          { d.sb.WriteString(n + " is " + t) }
func (d textDialect) Child(n, key string) (string, bool) { return n + "." + key, key != "bad" }
func (d textDialect) Scalar(n string, v any) bool {
	d.sb.WriteString(fmt.Sprintf("%s = %v", n, v))
	return true
}
func (d textDialect) SomeElement(n string, cond func(string) bool) bool {
	d.sb.WriteString("some " + n + "[e]: ")
	return cond(n + "[e]")
}

func TestContains(t *testing.T) {
	write := func(sub any) (string, bool) {
		var sb strings.Builder
		ok := Contains[string](textDialect{&sb}, "$", sub)
		return sb.String(), ok
	}
	got, ok := write(map[string]any{"b": []any{1.0}, "a": "x"})
	require.True(t, ok)
	assert.Equal(t, "($ is object AND ($.a = x) AND ($.b is array AND some $.b[e]: ($.b[e] = 1)))", got)
	got, ok = write("x")
	require.True(t, ok)
	assert.Equal(t, "($ = x OR ($ is array AND some $[e]: $[e] = x))", got, "a document that is an array contains its elements")
	_, ok = write(map[string]any{"bad": 1.0})
	assert.False(t, ok, "a key the dialect cannot name")
	var deep any = 1.0
	for range MaxConditionDepth + 1 {
		deep = []any{deep}
	}
	_, ok = write(deep)
	assert.False(t, ok, "too deep")
}
