package wasm

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The host writes the members a module reads, with the data's length.
func TestEnvelopeHasTheFieldsTheModuleReads(t *testing.T) {
	e := emmett.RecordedEvent{Type: "Added", Data: []byte(`{"n":1}`), Metadata: emmett.Metadata{CorrelationID: "c", CausationID: "d"},
		StreamName: "s-1", StreamPosition: 2, GlobalPosition: 7, TransactionID: 9, MessageID: "m", SchemaVersion: 3,
		Created: time.Date(2025, 3, 1, 9, 0, 0, 5, time.FixedZone("", 3600))}
	var md [2]int
	all, err := appendEventSpan(nil, e, fieldsOf(nil), &md)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"Added","dataLength":7,"data":{"n":1},"metadata":{"causationId":"d","correlationId":"c"},"streamName":"s-1",
		"streamPosition":2,"globalPosition":7,"transactionId":9,"messageId":"m","schemaVersion":3,"created":"2025-03-01T08:00:00.000000005Z"}`, string(all))
	assert.Equal(t, `{"causationId":"d","correlationId":"c"}`, string(all[md[0]:md[1]]))
	want, err := json.Marshal(e.Metadata)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(all[md[0]:md[1]]), "as emmett.Metadata writes it")

	some, err := appendEventSpan(nil, e, fieldsOf([]string{"schemaVersion", "future"}), &md)
	require.NoError(t, err)
	assert.Equal(t, `{"type":"Added","dataLength":7,"data":{"n":1},"schemaVersion":3}`, string(some))
	assert.Equal(t, [2]int{}, md)
	none, err := appendEventSpan(nil, emmett.RecordedEvent{Type: "X"}, fieldsOf([]string{}), &md)
	require.NoError(t, err)
	assert.Equal(t, `{"type":"X","dataLength":4,"data":null}`, string(none))

	data, err := appendEventDataSpan(nil, "s-2", eventstore.EventData{Type: "Y", Data: []byte(`[]`), MessageID: "m-2"}, fieldsOf(nil), &md)
	require.NoError(t, err)
	assert.Equal(t, `{"type":"Y","dataLength":2,"data":[],"metadata":{},"streamName":"s-2","messageId":"m-2","schemaVersion":1}`, string(data))
}
