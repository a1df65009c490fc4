package emmett_test

import (
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetadataJSON(t *testing.T) {
	t.Run("EmptyIsAnEmptyObject", func(t *testing.T) {
		data, err := json.Marshal(emmett.Metadata{})
		require.NoError(t, err)
		assert.Equal(t, `{}`, string(data))
	})
	t.Run("RoundTrip", func(t *testing.T) {
		md := emmett.Metadata{CorrelationID: "c", CausationID: "k", Fields: map[string]any{"user": "u1", "n": 2.5}}
		data, err := json.Marshal(md)
		require.NoError(t, err)
		assert.JSONEq(t, `{"correlationId":"c","causationId":"k","user":"u1","n":2.5}`, string(data))
		var back emmett.Metadata
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, md, back)
	})
	t.Run("NullAndEmpty", func(t *testing.T) {
		for _, in := range []string{`null`, `{}`, ` {} `} {
			var md emmett.Metadata
			require.NoError(t, json.Unmarshal([]byte(in), &md))
			assert.True(t, md.IsZero(), in)
		}
	})
	t.Run("EnvelopeKeysOfOtherWritersAreDropped", func(t *testing.T) {
		var md emmett.Metadata
		require.NoError(t, json.Unmarshal([]byte(`{"messageId":"m","streamName":"s","streamPosition":"1","globalPosition":"2","tenant":"t"}`), &md))
		assert.Equal(t, emmett.Metadata{Fields: map[string]any{"tenant": "t"}}, md)
	})
	t.Run("NotAnObject", func(t *testing.T) {
		var md emmett.Metadata
		assert.Error(t, json.Unmarshal([]byte(`[1]`), &md))
	})
}

func TestMetadataWithAndMerge(t *testing.T) {
	base := emmett.Metadata{CorrelationID: "c1", Fields: map[string]any{"a": 1}}
	withB := base.With("b", 2)
	assert.Equal(t, map[string]any{"a": 1}, base.Fields, "With does not change its receiver")
	assert.Equal(t, map[string]any{"a": 1, "b": 2}, withB.Fields)
	v, ok := withB.Get("b")
	assert.True(t, ok)
	assert.Equal(t, 2, v)

	merged := base.Merge(emmett.Metadata{CausationID: "k", Fields: map[string]any{"a": 3}})
	assert.Equal(t, emmett.Metadata{CorrelationID: "c1", CausationID: "k", Fields: map[string]any{"a": 3}}, merged)
	assert.Equal(t, 1, base.Fields["a"], "Merge does not change its receiver")
}
