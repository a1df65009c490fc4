package eventstore_test

import (
	"encoding/json"
	"strings"
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
		sql     int64
		matches map[int64]bool
	}{
		{eventstore.ExpectAny(), "any", -1, map[int64]bool{0: true, 3: true}},
		{eventstore.ExpectedVersion{}, "any", -1, map[int64]bool{0: true, 3: true}},
		{eventstore.ExpectNoStream(), "no_stream", -2, map[int64]bool{0: true, 3: false}},
		{eventstore.ExpectStreamExists(), "stream_exists", -3, map[int64]bool{0: false, 3: true}},
		{eventstore.ExpectVersion(0), "0", 0, map[int64]bool{0: true, 3: false}},
		{eventstore.ExpectVersion(3), "3", 3, map[int64]bool{0: false, 3: true, 4: false}},
	}
	for _, c := range cases {
		t.Run(c.str, func(t *testing.T) {
			assert.Equal(t, c.str, c.e.String())
			assert.Equal(t, c.sql, c.e.SQL())
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

func TestPrepare(t *testing.T) {
	events := []eventstore.EventData{{Type: "A", Data: []byte(`{"a":1}`), Metadata: emmett.Metadata{CorrelationID: "c"}}, {Type: "B", Data: []byte(`[]`), MessageID: "given"}}
	prepared, err := eventstore.Prepare("s-1", events, 0)
	require.NoError(t, err)
	require.Len(t, prepared, 2)
	assert.NotEmpty(t, prepared[0].MessageID, "a message id is assigned")
	assert.Equal(t, "given", prepared[1].MessageID)
	assert.JSONEq(t, `{"correlationId":"c"}`, string(prepared[0].MetadataJSON))
	assert.Equal(t, `{}`, string(prepared[1].MetadataJSON))
	assert.Empty(t, events[0].MessageID, "the caller's events are not changed")

	_, err = eventstore.Prepare("s-1", []eventstore.EventData{{Type: "A", Data: []byte(`{"s":"` + strings.Repeat("x", 100) + `"}`)}}, 50)
	assert.ErrorIs(t, err, eventstore.ErrEventTooLarge)
	_, err = eventstore.Prepare("s-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`), Metadata: emmett.Metadata{Fields: map[string]any{"x": strings.Repeat("y", 100)}}}}, 50)
	assert.ErrorIs(t, err, eventstore.ErrEventTooLarge, "metadata counts toward the limit")
	_, err = eventstore.Prepare("s-1", []eventstore.EventData{{Type: "A\x00", Data: []byte(`{}`)}}, 0)
	assert.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	var invalid *eventstore.InvalidEventError
	_, err = eventstore.Prepare("s-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}, {Type: "B", Data: []byte(`nope`)}}, 0)
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, 1, invalid.Index)
	assert.Equal(t, "B", invalid.Type)
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
	assert.ErrorIs(t, err, emmett.ErrUnregisteredEvent)
}

func TestStreamType(t *testing.T) {
	assert.Equal(t, "shopping_cart", eventstore.StreamType("shopping_cart-123-4"))
	assert.Equal(t, "emt:unknown", eventstore.StreamType("plain"))
	assert.Equal(t, "emt:unknown", eventstore.StreamType("-x"), "as Node: an empty type part is no type")
}
