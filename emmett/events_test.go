package emmett_test

import (
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Event interface{ isEvent() }

type Opened struct {
	ID string `json:"id"`
}

type Renamed struct {
	Name string `json:"name"`
}

// Closed chooses its own stored name.
type Closed struct{}

func (Closed) EventType() string { return "account.closed.v1" }

type Pointered struct{ N int }

func (Opened) isEvent()     {}
func (Renamed) isEvent()    {}
func (Closed) isEvent()     {}
func (*Pointered) isEvent() {}

func registry() *emmett.Events[Event] {
	return emmett.NewEvents[Event](Opened{}, Renamed{}, Closed{}, &Pointered{})
}

func TestEventsNames(t *testing.T) {
	r := registry()
	assert.Equal(t, []string{"Opened", "Renamed", "account.closed.v1", "Pointered"}, r.Names())
	assert.True(t, r.Has("Opened"))
	assert.False(t, r.Has("Missing"))
	name, err := r.TypeName(Closed{})
	require.NoError(t, err)
	assert.Equal(t, "account.closed.v1", name)
}

func TestEventsRoundTrip(t *testing.T) {
	r := registry()
	for _, ev := range []Event{Opened{ID: "a-1"}, Renamed{Name: "Ann"}, Closed{}, &Pointered{N: 7}} {
		name, data, err := r.Encode(ev)
		require.NoError(t, err)
		back, err := r.Decode(name, data)
		require.NoError(t, err)
		assert.Equal(t, ev, back, "%s round trip", name)
	}
	name, data, err := r.Encode(Opened{ID: "x"})
	require.NoError(t, err)
	assert.Equal(t, "Opened", name)
	assert.JSONEq(t, `{"id":"x"}`, string(data))
}

func TestEventsUnknownType(t *testing.T) {
	_, err := registry().Decode("Deleted", []byte(`{}`))
	require.ErrorIs(t, err, emmett.ErrUnknownEventType)
	var unknown *emmett.UnknownEventTypeError
	require.ErrorAs(t, err, &unknown)
	assert.Equal(t, "Deleted", unknown.Type)
	assert.Contains(t, err.Error(), `"Deleted"`, "the error names the type")
}

type Unregistered struct{}

func (Unregistered) isEvent() {}

func TestEventsUnregistered(t *testing.T) {
	_, _, err := registry().Encode(Unregistered{})
	require.ErrorIs(t, err, emmett.ErrUnknownEventType)
	assert.Contains(t, err.Error(), "Unregistered")
	_, _, err = registry().Encode(&Pointered{}) // registered as pointer
	require.NoError(t, err)
}

func TestEventsMalformed(t *testing.T) {
	_, err := registry().Decode("Opened", []byte(`{"id":`))
	require.ErrorIs(t, err, emmett.ErrMalformedEvent)
	var syntax *json.SyntaxError
	assert.ErrorAs(t, err, &syntax, "the JSON error is kept")
	_, err = registry().Decode("Opened", []byte(`{"id":42}`))
	require.ErrorIs(t, err, emmett.ErrMalformedEvent, "a type mismatch is malformed data too")
}

func TestNewEventsPanicsOnMistakes(t *testing.T) {
	assert.PanicsWithValue(t, `emmett.NewEvents: type name "Opened" used by both emmett_test.Opened and emmett_test.Opened`,
		func() { emmett.NewEvents[Event](Opened{}, Opened{}) })
	assert.Panics(t, func() { emmett.NewEvents[Event](nil) })
	assert.Panics(t, func() { emmett.NewEvents[any](struct{}{}) }, "an unnamed type needs a name")
}

func TestDecodeRecorded(t *testing.T) {
	rec := emmett.RecordedEvent{Type: "Renamed", Data: []byte(`{"name":"Bo"}`), StreamName: "account-1", StreamPosition: 3}
	got, err := registry().DecodeRecorded(rec)
	require.NoError(t, err)
	assert.Equal(t, Renamed{Name: "Bo"}, got.Event)
	assert.Equal(t, "account-1", got.StreamName)
	assert.Equal(t, int64(3), got.StreamPosition)
}
