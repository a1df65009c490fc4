package eventstore_test

import (
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpectedVersion(t *testing.T) {
	cases := []struct {
		e       eventstore.ExpectedVersion
		str     string
		matches map[int64]bool
	}{
		{eventstore.ExpectAny(), "any", map[int64]bool{0: true, 3: true}},
		{eventstore.ExpectedVersion{}, "any", map[int64]bool{0: true, 3: true}},
		{eventstore.ExpectNoStream(), "no_stream", map[int64]bool{0: true, 3: false}},
		{eventstore.ExpectStreamExists(), "stream_exists", map[int64]bool{0: false, 3: true}},
		{eventstore.ExpectVersion(0), "0", map[int64]bool{0: true, 3: false}},
		{eventstore.ExpectVersion(3), "3", map[int64]bool{0: false, 3: true, 4: false}},
	}
	for _, c := range cases {
		t.Run(c.str, func(t *testing.T) {
			assert.Equal(t, c.str, c.e.String())
			for v, want := range c.matches {
				assert.Equal(t, want, c.e.Matches(v), "version %d", v)
			}
		})
	}
	v, exact := eventstore.ExpectVersion(7).Exact()
	assert.True(t, exact)
	assert.Equal(t, int64(7), v)
	_, exact = eventstore.ExpectNoStream().Exact()
	assert.False(t, exact)
	assert.Panics(t, func() { eventstore.ExpectVersion(-1) })
}

func TestPosition(t *testing.T) {
	a := eventstore.Position{GlobalPosition: 5}
	b := eventstore.Position{TransactionID: 10, GlobalPosition: 2}
	c := eventstore.Position{TransactionID: 10, GlobalPosition: 9}
	assert.True(t, a.Before(b), "transaction id orders first")
	assert.True(t, b.Before(c))
	assert.Equal(t, 0, c.Compare(c))
	assert.True(t, eventstore.Position{}.IsZero())

	l1 := eventstore.Position{LSN: 0x1_0000_0010, TransactionID: 900, GlobalPosition: 7}
	l2 := eventstore.Position{LSN: 0x1_0000_0020, TransactionID: 800, GlobalPosition: 3}
	assert.True(t, l1.Before(l2), "positions with LSNs order by commit, not transaction id")
	assert.True(t, l1.Before(eventstore.Position{LSN: l1.LSN, GlobalPosition: 8}), "then by global position")
	assert.Equal(t, "1/10@900:7", l1.String())
	for _, p := range []eventstore.Position{{}, a, b, c, l1, l2, {LSN: 5}, {TransactionID: 1<<64 - 1, GlobalPosition: 1<<63 - 1, LSN: 1<<64 - 1}} {
		back, err := eventstore.ParsePosition(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, back, p.String())
		data, err := json.Marshal(p)
		require.NoError(t, err)
		var fromJSON eventstore.Position
		require.NoError(t, json.Unmarshal(data, &fromJSON))
		assert.Equal(t, p, fromJSON)
	}
	assert.Equal(t, "5", a.String())
	assert.Equal(t, "10:2", b.String())
	for _, bad := range []string{"x", "1:", ":1", "-1", "1:-1", "1:2:3", " 1", "@1", "1@2", "G/1@2", "1/1@"} {
		_, err := eventstore.ParsePosition(bad)
		assert.Error(t, err, bad)
	}
}

func TestEncode(t *testing.T) {
	type Ev interface{}
	type Opened struct{ ID string }
	reg := emmett.NewEvents[Ev](Opened{})
	data, err := eventstore.Encode(reg, []Ev{Opened{ID: "x"}}, emmett.Metadata{CausationID: "k"})
	require.NoError(t, err)
	require.Len(t, data, 1)
	assert.Equal(t, "Opened", data[0].Type)
	assert.JSONEq(t, `{"ID":"x"}`, string(data[0].Data))
	assert.Equal(t, "k", data[0].Metadata.CausationID)
	_, err = eventstore.Encode(reg, []Ev{42}, emmett.Metadata{})
	assert.ErrorIs(t, err, emmett.ErrUnknownEventType)
}

func TestStreamType(t *testing.T) {
	assert.Equal(t, "shopping_cart", eventstore.StreamType("shopping_cart-123-4"))
	assert.Equal(t, "emt:unknown", eventstore.StreamType("plain"))
	assert.Equal(t, "emt:unknown", eventstore.StreamType("-x"), "as Node: an empty type part is no type")
}
