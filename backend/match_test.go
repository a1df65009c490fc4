package backend_test

import (
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v))
	return v
}

// TestJSONContains follows the examples of PostgreSQL's documentation of
// jsonb containment (section 8.14.3).
func TestJSONContains(t *testing.T) {
	cases := []struct {
		container, sub string
		want           bool
	}{
		{`"foo"`, `"foo"`, true},
		{`[1, 2, 3]`, `[1, 3]`, true},
		{`[1, 2, 3]`, `[3, 1]`, true},
		{`[1, 2, 3]`, `[1, 2, 2]`, true},
		{`{"product": "PostgreSQL", "version": 9.4, "jsonb": true}`, `{"version": 9.4}`, true},
		{`[1, 2, [1, 3]]`, `[1, 3]`, false},
		{`[1, 2, [1, 3]]`, `[[1, 3]]`, true},
		{`{"foo": {"bar": "baz"}}`, `{"bar": "baz"}`, false},
		{`{"foo": {"bar": "baz"}}`, `{"foo": {}}`, true},
		{`["foo", "bar"]`, `"bar"`, true},
		{`"bar"`, `["bar"]`, false},
		{`{"a": 1}`, `{"a": "1"}`, false},
		{`{"a": [{"b": 1, "c": 2}]}`, `{"a": [{"b": 1}]}`, true},
		{`{"a": null}`, `{"a": null}`, true},
		{`{}`, `{"a": null}`, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, backend.JSONContains(decode(t, c.container), decode(t, c.sub)), "%s @> %s", c.container, c.sub)
	}
}

func TestMatch(t *testing.T) {
	doc := []byte(`{"status":"open","total":10,"ok":true,"client":{"id":"c-1","tags":["a","b"]},"none":null}`)
	cases := []struct {
		name  string
		conds []projection.Condition
		want  bool
	}{
		{"NoConditions", nil, true},
		{"EqString", []projection.Condition{projection.Eq("status", "open")}, true},
		{"EqOtherString", []projection.Condition{projection.Eq("status", "closed")}, false},
		{"EqNumber", []projection.Condition{projection.Eq("total", 10.0)}, true},
		{"EqNumberAsString", []projection.Condition{projection.Eq("total", "10")}, false},
		{"EqBool", []projection.Condition{projection.Eq("ok", true)}, true},
		{"EqNested", []projection.Condition{projection.Eq("client.id", "c-1")}, true},
		{"EqMissing", []projection.Condition{projection.Eq("client.name", "x")}, false},
		{"EqNull", []projection.Condition{projection.Eq("none", nil)}, true},
		{"EqMissingIsNotNull", []projection.Condition{projection.Eq("absent", nil)}, false},
		{"EqArrayIsExact", []projection.Condition{projection.Eq("client.tags", []string{"a"})}, false},
		{"EqWholeArray", []projection.Condition{projection.Eq("client.tags", []string{"a", "b"})}, true},
		{"ContainsNested", []projection.Condition{projection.Contains(map[string]any{"client": map[string]any{"tags": []string{"b"}}})}, true},
		{"ContainsAndEq", []projection.Condition{projection.Contains(map[string]any{"ok": true}), projection.Eq("status", "closed")}, false},
		{"ContainsRaw", []projection.Condition{projection.Contains(json.RawMessage(`{"total":10}`))}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := backend.Match(doc, projection.Query{Conditions: c.conds})
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	t.Run("BadConditions", func(t *testing.T) {
		for _, c := range []projection.Condition{projection.Eq("", 1), projection.Eq("a..b", 1), projection.Eq(".a", 1), projection.Eq("a", func() {}), projection.Contains(json.RawMessage(`{"a":`))} {
			_, err := backend.Match(doc, projection.Query{Conditions: []projection.Condition{c}})
			assert.Error(t, err)
			assert.Error(t, c.Err())
		}
	})
	t.Run("NotJSON", func(t *testing.T) {
		_, err := backend.Match([]byte(`{`), projection.Query{Conditions: []projection.Condition{projection.Eq("a", 1)}})
		assert.Error(t, err)
	})
}

func TestValidate(t *testing.T) {
	for _, ok := range []string{"carts", "cart_details", "_x", "a1"} {
		assert.NoError(t, projection.ValidateCollection(ok), ok)
	}
	for _, bad := range []string{"", "Carts", "1carts", "carts-x", "carts;drop", "a b", string(make([]byte, 64))} {
		assert.ErrorIs(t, projection.ValidateCollection(bad), projection.ErrInvalidCollection, bad)
	}
	assert.NoError(t, projection.ValidateDocument("id", []byte(`{"a":1}`)))
	assert.ErrorIs(t, projection.ValidateDocument("", []byte(`{}`)), projection.ErrInvalidDocument)
	assert.ErrorIs(t, projection.ValidateDocument("id", []byte(`{`)), projection.ErrInvalidDocument)
}
