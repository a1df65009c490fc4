package guest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const envelope = `{
	"type": "Added\u00e9\"x",
	"data": {"a": [1, 2.5e3, -3, {"b": "c\\"}], "n": null, "t": true, "f": false},
	"metadata": {"correlationId": "c-1"},
	"streamName": "cart-é1",
	"streamPosition": 3,
	"globalPosition": 42,
	"transactionId": 18446744073709551615,
	"messageId": "m-1",
	"created": "2025-03-01T09:00:00.123456789Z",
	"future": {"ignored": [true]}
}`

func TestParseEventAgreesWithEncodingJSON(t *testing.T) {
	got, err := parseEvent([]byte(envelope))
	require.NoError(t, err)
	var want Event
	require.NoError(t, json.Unmarshal([]byte(envelope), &want))
	assert.Equal(t, want.Type, got.Type)
	assert.JSONEq(t, string(want.Data), string(got.Data))
	assert.JSONEq(t, string(want.Metadata), string(got.Metadata))
	got.Data, got.Metadata, want.Data, want.Metadata = nil, nil, nil, nil
	assert.Equal(t, want, got)
	assert.Equal(t, uint64(18446744073709551615), got.TransactionID)
	assert.Equal(t, time.Date(2025, 3, 1, 9, 0, 0, 123456789, time.UTC), got.Created)
}

func TestParseEventBeforeAppend(t *testing.T) {
	got, err := parseEvent([]byte(`{"type":"A","data":{},"metadata":{},"streamName":"s-1"}`))
	require.NoError(t, err)
	assert.Equal(t, Event{Type: "A", Data: json.RawMessage(`{}`), Metadata: json.RawMessage(`{}`), StreamName: "s-1"}, got)
}

func TestParseRefusesMalformedInput(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"type":}`, `{"type":"A"`, `{"type":"A",}`, `{"type":"A"} x`, `{"data":[1,}`,
		`{"data":"unterminated}`, `{"streamPosition":"1"}`, `{"streamPosition":1.5}`, `{"created":"yesterday"}`,
		"{\"type\":\"a\x01\"}", `{"data":tru}`,
	} {
		_, err := parseEvent([]byte(in))
		assert.Error(t, err, in)
	}
}

func TestParseEvolveInput(t *testing.T) {
	doc, events, err := parseEvolveInput([]byte(`{"document":null,"events":[` + envelope + `, {"type":"B","data":1}]}`))
	require.NoError(t, err)
	assert.Nil(t, doc)
	require.Len(t, events, 2)
	assert.Equal(t, int64(42), events[0].GlobalPosition)
	assert.Equal(t, "B", events[1].Type)
	doc, events, err = parseEvolveInput([]byte(`{"events":[ ], "document": {"count": [1]} }`))
	require.NoError(t, err)
	assert.Equal(t, `{"count": [1]}`, string(doc))
	assert.Empty(t, events)
	for _, in := range []string{`{"events":{}}`, `{"events":[1]}`, `{"events":[{}`, `{"document":{},"events":[{"type":1}]}`} {
		_, _, err := parseEvolveInput([]byte(in))
		assert.Error(t, err, in)
	}
}

type counter struct {
	Count int `json:"count"`
}

func testModule() *module {
	m := &module{}
	m.registerProjection(Projection{
		EventTypes: []string{"Clicked", "Reset"},
		DocumentIDs: func(e Event) ([]string, error) {
			if e.Type == "Reset" {
				return nil, nil
			}
			return []string{e.StreamName, "all \"clicks\""}, nil
		},
		Evolve: Evolve(func(doc *counter, e Event) (*counter, error) {
			switch e.Type {
			case "Reset":
				return nil, nil
			case "Bad":
				return nil, errors.New("bad event")
			}
			if doc == nil {
				doc = &counter{}
			}
			doc.Count++
			return doc, nil
		}),
	})
	m.registerTransform(Transform{
		EventTypes: []string{"Old"},
		Transform: func(e Event) ([]Event, error) {
			var v struct {
				Price float64 `json:"price"`
			}
			if err := e.Decode(&v); err != nil {
				return nil, err
			}
			next, err := e.With("New", map[string]float64{"unitPrice": v.Price})
			return []Event{next}, err
		},
	})
	return m
}

func TestDescribe(t *testing.T) {
	assert.JSONEq(t, `{"abi":1,"projection":{"eventTypes":["Clicked","Reset"],"documentIds":true},"transform":{"eventTypes":["Old"]}}`,
		string(testModule().describe()))
	assert.JSONEq(t, `{"abi":1}`, string((&module{}).describe()))
}

func TestEvolve(t *testing.T) {
	m := testModule()
	ev := `{"type":"Clicked","data":{},"streamName":"s-1"}`
	evolve := func(doc string, events ...string) string {
		return string(m.evolve([]byte(`{"document":` + doc + `,"events":[` + strings.Join(events, ",") + `]}`)))
	}
	assert.JSONEq(t, `{"document":{"count":1}}`, evolve(`null`, ev))
	assert.JSONEq(t, `{"document":{"count":5}}`, evolve(`{"count":2}`, ev, ev, ev))
	assert.JSONEq(t, `{"delete":true}`, evolve(`{"count":2}`, ev, `{"type":"Reset","data":{}}`))
	assert.JSONEq(t, `{"document":{"count":1}}`, evolve(`{"count":2}`, `{"type":"Reset","data":{}}`, ev), "a document deleted and created again")
	assert.JSONEq(t, `{"error":"bad event","index":1}`, evolve(`null`, ev, `{"type":"Bad","data":{}}`, ev))
	assert.Contains(t, string(m.evolve([]byte(`{"document":nul`))), `"error":"decoding evolve input: invalid JSON`)
	assert.Contains(t, evolve(`"x"`, ev), `"error":"decoding document`)
	assert.JSONEq(t, `{"error":"the module registers no projection"}`, string((&module{}).evolve([]byte(`{}`))))

	raw := &module{}
	raw.registerProjection(Projection{Evolve: EvolveJSON(func(doc []byte, e Event) ([]byte, error) {
		if e.Type == "Bad" {
			return nil, errors.New("bad")
		}
		return append(append([]byte(`[`), e.Data...), ']'), nil
	})})
	assert.JSONEq(t, `{"document":[2]}`, string(raw.evolve([]byte(`{"document":null,"events":[{"type":"A","data":1},{"type":"A","data":2}]}`))))
	assert.JSONEq(t, `{"error":"bad","index":0}`, string(raw.evolve([]byte(`{"document":null,"events":[{"type":"Bad","data":1}]}`))))
}

func TestDocumentIDs(t *testing.T) {
	m := testModule()
	assert.JSONEq(t, `{"ids":["s-1","all \"clicks\""]}`, string(m.documentIDs([]byte(`{"type":"Clicked","data":{},"streamName":"s-1"}`))))
	assert.JSONEq(t, `{"ids":[]}`, string(m.documentIDs([]byte(`{"type":"Reset","data":{},"streamName":"s-1"}`))))
	single := &module{}
	single.registerProjection(Projection{Evolve: EvolveJSON(func([]byte, Event) ([]byte, error) { return nil, nil })})
	assert.JSONEq(t, `{"ids":["s-2"]}`, string(single.documentIDs([]byte(`{"type":"X","data":{},"streamName":"s-2"}`))))
}

func TestTransform(t *testing.T) {
	m := testModule()
	out := m.transformEvent([]byte(`{"type":"Old","data":{"price":9.5},"metadata":{"correlationId":"c"},"streamName":"s","messageId":"m"}`))
	assert.JSONEq(t, `{"events":[{"type":"New","data":{"unitPrice":9.5},"metadata":{"correlationId":"c"},"messageId":"m"}]}`, string(out))
	assert.Contains(t, string(m.transformEvent([]byte(`{"type":"Old","data":[]}`))), `"error":"decoding Old data`)
	drop := &module{}
	drop.registerTransform(Transform{Transform: func(Event) ([]Event, error) { return nil, nil }})
	assert.JSONEq(t, `{"events":[]}`, string(drop.transformEvent([]byte(`{"type":"X","data":{}}`))))
}

func TestRegistrationMistakesPanic(t *testing.T) {
	assert.Panics(t, func() { (&module{}).registerProjection(Projection{}) })
	assert.Panics(t, func() { (&module{}).registerTransform(Transform{}) })
	assert.Panics(t, func() {
		testModule().registerProjection(Projection{Evolve: EvolveJSON(func([]byte, Event) ([]byte, error) { return nil, nil })})
	})
	assert.Panics(t, func() {
		testModule().registerTransform(Transform{Transform: func(Event) ([]Event, error) { return nil, nil }})
	})
}
