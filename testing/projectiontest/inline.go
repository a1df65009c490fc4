package projectiontest

import (
	"errors"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testInline(t *testing.T, cfg Config) {
	t.Run("ReadYourWrites", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		counters, groups := Counters("inline_counters"), GroupTotals("inline_groups")
		b := cfg.New(t, counters, groups)
		c := counters.Collection(b.Documents())

		Append(t, b, "counter-1", Incremented{By: 2, Group: "g1"}, Tagged{Tag: "x"})
		got, found, err := c.Get(ctx, "counter-1")
		require.NoError(t, err)
		require.True(t, found, "the document is there right after the append")
		assert.Equal(t, Counter{Total: 2, Count: 1, Tags: []string{"x"}, Group: Group{Name: "g1"}, Active: true}, got)

		Append(t, b, "counter-1", Incremented{By: 3, Group: "g1"})
		Append(t, b, "counter-2", Incremented{By: 10, Group: "g1"})
		got, _, err = c.Get(ctx, "counter-1")
		require.NoError(t, err)
		assert.Equal(t, 5, got.Total)

		g, found, err := groups.Collection(b.Documents()).Get(ctx, "g1")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, GroupTotal{Group: "g1", Total: 15, Events: 3}, g, "a multi-stream document gathers streams")

		Append(t, b, "counter-1", Removed{})
		_, found, err = c.Get(ctx, "counter-1")
		require.NoError(t, err)
		assert.False(t, found, "evolve returning nil deletes the document")
	})

	t.Run("ErrorRollsTheAppendBack", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		counters := Counters("inline_counters")
		b := cfg.New(t, counters, Failing("inline_failing", 0))
		c := counters.Collection(b.Documents())
		Append(t, b, "counter-1", Incremented{By: 1, Group: "g"})

		data, err := eventstore.Encode(Events, []Event{Incremented{By: 100, Group: "g"}, Poisoned{}}, emptyMetadata)
		require.NoError(t, err)
		_, err = b.AppendToStream(ctx, "counter-1", data)
		require.Error(t, err)
		assert.ErrorIs(t, err, errPoisoned, "the projection's error is returned")
		var perr *projection.Error
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, "failing", perr.Projection)

		v, _, err := b.StreamVersion(ctx, "counter-1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v, "the append was rolled back")
		got, _, err := c.Get(ctx, "counter-1")
		require.NoError(t, err)
		assert.Equal(t, 1, got.Total, "and so were the other projections' changes")
		n, err := projection.NewCollection[map[string]any](b.Documents(), "inline_failing").Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "and the failing projection's own writes")

		Append(t, b, "counter-1", Incremented{By: 1, Group: "g"})
		got, _, err = c.Get(ctx, "counter-1")
		require.NoError(t, err)
		assert.Equal(t, 2, got.Total, "the store goes on")
	})

	t.Run("UnhandledTypesAreNotDecoded", func(t *testing.T) {
		t.Parallel()
		ctx := background(t)
		counters := Counters("inline_counters")
		b := cfg.New(t, counters)
		// A type the projection does not handle, with data its registry
		// could not decode: the append must not fail.
		_, err := b.AppendToStream(ctx, "counter-1", []eventstore.EventData{{Type: "SomethingElse", Data: []byte(`[1,2,3]`)}})
		require.NoError(t, err)
		_, err = b.AppendToStream(ctx, "counter-1", []eventstore.EventData{{Type: "Incremented", Data: []byte(`{"by":"three"}`)}})
		require.Error(t, err, "a handled type that does not decode fails the append")
		var perr *projection.Error
		require.True(t, errors.As(err, &perr))
		assert.Equal(t, "Incremented", perr.Event.Type)
		v, _, err := b.StreamVersion(ctx, "counter-1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v)
	})
}
