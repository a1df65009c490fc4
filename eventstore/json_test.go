package eventstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONEventForm(t *testing.T) {
	rec := emmett.RecordedEvent{
		MessageID:      "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Type:           "Added",
		Data:           []byte(`{"n":1}`),
		Metadata:       emmett.Metadata{CorrelationID: "c-1", Fields: map[string]any{"user": "ann"}},
		StreamName:     "cart-1",
		StreamPosition: 2,
		GlobalPosition: 42,
		TransactionID:  1907,
		Created:        time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC),
	}
	got, err := json.Marshal(eventstore.NewJSONEvent(rec))
	require.NoError(t, err)
	assert.Equal(t, `{"messageId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","type":"Added","data":{"n":1},"schemaVersion":1,`+
		`"metadata":{"correlationId":"c-1","user":"ann"},"streamName":"cart-1","streamPosition":2,"globalPosition":42,`+
		`"position":"1907:42","created":"2026-11-25T10:00:00.123456Z"}`, string(got))

	plain := rec
	plain.Metadata, plain.TransactionID = emmett.Metadata{}, 0
	got, err = json.Marshal(eventstore.NewJSONEvent(plain))
	require.NoError(t, err)
	assert.Contains(t, string(got), `"metadata":{},`, "no metadata is an empty object")
	assert.Contains(t, string(got), `"position":"42",`, "a position without a transaction is the global position")
}

func TestJSONEventRoundTrip(t *testing.T) {
	for _, tx := range []uint64{0, 1907} {
		rec := emmett.RecordedEvent{
			MessageID: "m-1", Type: "Added", Data: []byte(`{"n":1}`), SchemaVersion: 2,
			Metadata:   emmett.Metadata{CausationID: "c-0", Fields: map[string]any{"count": float64(3)}},
			StreamName: "cart-1", StreamPosition: 2, GlobalPosition: 42, TransactionID: tx,
			Created: time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC),
		}
		encoded, err := json.Marshal(eventstore.NewJSONEvent(rec))
		require.NoError(t, err)
		var decoded eventstore.JSONEvent
		require.NoError(t, json.Unmarshal(encoded, &decoded))
		back, err := decoded.Recorded()
		require.NoError(t, err)
		assert.Equal(t, rec, back, "transaction %d", tx)
	}
	_, err := eventstore.JSONEvent{Position: "x"}.Recorded()
	assert.ErrorContains(t, err, `invalid position "x"`)
}
