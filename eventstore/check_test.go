package eventstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Opened struct {
	ID string `json:"id"`
}

type Closed struct {
	Reason string `json:"reason"`
}

type checkEvent interface{}

// TestCheck finds the stored events a registry can no longer read, and
// none once the registry reads them again.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	_, err := s.AppendToStream(ctx, "door-1", []eventstore.EventData{
		{Type: "Opened", Data: []byte(`{"id":"d1"}`)},
		{Type: "Shut", Data: []byte(`{"why":"wind"}`)}, // the type's old name
		{Type: "Shut", Data: []byte(`{"why":"rain"}`)},
		{Type: "Opened", Data: []byte(`{"door":"d1"}`), SchemaVersion: 2},
		{Type: "Opened", Data: []byte(`{"id":1}`)}, // malformed
	})
	require.NoError(t, err)

	events := emmett.NewEvents[checkEvent](Opened{}, Closed{})
	res, err := eventstore.Check(ctx, s, events)
	require.NoError(t, err)
	assert.EqualValues(t, 5, res.Read)
	assert.EqualValues(t, 5, res.Checked)
	require.Len(t, res.Failures, 3)
	assert.Equal(t, "Opened", res.Failures[0].Type)
	assert.Equal(t, 1, res.Failures[0].Version)
	assert.ErrorIs(t, res.Failures[0].Err, emmett.ErrMalformedEvent)
	assert.Equal(t, 2, res.Failures[1].Version)
	assert.ErrorIs(t, res.Failures[1].Err, emmett.ErrUnknownSchemaVersion)
	assert.Equal(t, "Shut", res.Failures[2].Type)
	assert.EqualValues(t, 2, res.Failures[2].Count)
	assert.EqualValues(t, 2, res.Failures[2].First.GlobalPosition)
	assert.ErrorIs(t, res.Failures[2].Err, emmett.ErrUnknownEventType)
	require.ErrorIs(t, res.Err(), eventstore.ErrUnreadableEvents)
	assert.Contains(t, res.Err().Error(), "Shut version 1: 2 event(s)")

	// The schema alone finds the types and versions it cannot read.
	sres, err := eventstore.CheckSchema(ctx, s, events.Schema())
	require.NoError(t, err)
	require.Len(t, sres.Failures, 2, "an unknown type and a newer version; data is not decoded")

	// A registry that reads them: the old name renamed, version 2 of
	// Opened, whose version 1 had a number for an id.
	fixed := emmett.NewEvents[checkEvent](Opened{}, Closed{}).
		Upcast("Opened", 1, emmett.UpcastFunc(func(data []byte) ([]byte, error) {
			var v1 map[string]any
			if err := json.Unmarshal(data, &v1); err != nil {
				return nil, err
			}
			id, _ := json.Marshal(v1["id"])
			return json.Marshal(map[string]string{"door": string(id)})
		})).
		Renamed("Shut", "Closed")
	// Opened's current form is now {"door":...}: Opened (with "id") reads
	// it as an empty id, which is data, not an error.
	res, err = eventstore.Check(ctx, s, fixed)
	require.NoError(t, err)
	assert.NoError(t, res.Err())
	sres, err = eventstore.CheckSchema(ctx, s, fixed.Schema())
	require.NoError(t, err)
	assert.NoError(t, sres.Err())

	// A sample.
	res, err = eventstore.Check(ctx, s, events, eventstore.CheckEvery(2))
	require.NoError(t, err)
	assert.EqualValues(t, 3, res.Checked, "the 1st, 3rd and 5th")
}
