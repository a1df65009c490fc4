package storable

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestText(t *testing.T) {
	for _, s := range []string{"", "ann", "smörgås", "日本", "\U0001F600", "a\\u0000b"} {
		assert.NoError(t, Text(s), "%q", s)
	}
	assert.ErrorIs(t, Text("bad\xffx"), errInvalidUTF8)
	assert.ErrorIs(t, Text("\xed\xa0\x80"), errInvalidUTF8, "an encoded surrogate is not UTF-8")
	assert.ErrorIs(t, Text("nul\x00x"), errNUL)
}

func TestJSON(t *testing.T) {
	for _, doc := range []string{
		`{}`, `"plain"`, `{"a":"smörgås","b":["日本",1,true,null]}`,
		`"\n\t\"\\ \/ \u00e9 \u0001 \uFFFF"`,
		`"\ud83d\ude00"`, `"\uD83D\uDE00 and \ud800\udc00"`,
		`"\\u0000"`, `"\\\\u0000"`, // an escaped backslash, then text
		`{"\u0041":"\u0042"}`,
	} {
		require.True(t, json.Valid([]byte(doc)), doc)
		assert.NoError(t, JSON([]byte(doc)), doc)
	}
	for _, tc := range []struct {
		doc  string
		want error
	}{
		{"\"bad\xffx\"", errInvalidUTF8},
		{"{\"k\xfe\":1}", errInvalidUTF8},
		{`"nul\u0000x"`, errEscapedNUL},
		{`{"a\u0000":1}`, errEscapedNUL},
		{`["x", "\\\u0000"]`, errEscapedNUL},
		{`"\ud800"`, errLoneSurrogate},
		{`"\ud800x"`, errLoneSurrogate},
		{`"\ud800\n"`, errLoneSurrogate},
		{`"\ud800\u0041"`, errLoneSurrogate},
		{`"\ud800\ud800"`, errLoneSurrogate},
		{`"\udc00"`, errLoneSurrogate},
		{`"\ud83d\ude00\udc00"`, errLoneSurrogate},
	} {
		require.True(t, json.Valid([]byte(tc.doc)), tc.doc)
		assert.ErrorIs(t, JSON([]byte(tc.doc)), tc.want, tc.doc)
	}
}

func TestJSONOfGo(t *testing.T) {
	// encoding/json writes a NUL as \u0000, and invalid UTF-8 as U+FFFD.
	data, err := json.Marshal(map[string]string{"a": "x\x00y"})
	require.NoError(t, err)
	assert.ErrorIs(t, JSON(data), errEscapedNUL)
	data, err = json.Marshal("bad\xffx")
	require.NoError(t, err)
	assert.NoError(t, JSON(data))
}
