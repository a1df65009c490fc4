package guest

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
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

// The fields the guest reads are checked; the data and metadata, which the
// host checked, are only delimited (`{"data":tru}` passes).
func TestParseRefusesMalformedInput(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"type":}`, `{"type":"A"`, `{"type":"A",}`, `{"type":"A"} x`, `{"data":[1,}`,
		`{"data":"unterminated}`, `{"streamPosition":"1"}`, `{"streamPosition":1.5}`, `{"created":"yesterday"}`,
		"{\"type\":\"a\x01\"}",
	} {
		_, err := parseEvent([]byte(in))
		assert.Error(t, err, in)
	}
}

func TestParseEventsInput(t *testing.T) {
	events, err := readEventsInput([]byte(`{"events":[`+envelope+`, {"type":"B","data":1}], "future": 1}`), &interner{}, nil)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, int64(42), events[0].GlobalPosition)
	assert.Equal(t, "B", events[1].Type)
	for _, in := range []string{`{"events":{}}`, `{"events":[1]}`, `{"events":[{}`, `{"events":[{"type":1}]}`, `{"events":[]} x`} {
		_, err := readEventsInput([]byte(in), &interner{}, nil)
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
	assert.JSONEq(t, `{"abi":2,"projection":{"eventTypes":["Clicked","Reset"],"documentIds":true},"transform":{"eventTypes":["Old"]}}`,
		string(testModule().describe()))
	assert.JSONEq(t, `{"abi":2}`, string((&module{}).describe()))
}

func TestEvolveBatch(t *testing.T) {
	m := testModule()
	ev := `{"type":"Clicked","data":{},"streamName":"s-1"}`
	reset := `{"type":"Reset","data":{}}`
	doc := func(id, doc string, events ...string) string {
		return `{"id":"` + id + `","document":` + doc + `,"events":[` + strings.Join(events, ",") + `]}`
	}
	evolve := func(docs ...string) string {
		return string(m.evolveBatch([]byte(`{"documents":[` + strings.Join(docs, ",") + `]}`)))
	}
	assert.JSONEq(t, `{"documents":[{"document":{"count":1}}]}`, evolve(doc("a", `null`, ev)))
	assert.JSONEq(t, `{"documents":[{"document":{"count":5}},{"delete":true},{"document":{"count":1}},{"document":{"count":2}}]}`, evolve(
		doc("a", `{"count":2}`, ev, ev, ev),
		doc("b", `{"count":2}`, ev, reset),
		doc("c", `{"count":2}`, reset, ev), // deleted and created again
		doc("d", `{"count":2}`),            // no events
	))
	assert.JSONEq(t, `{"documents":[]}`, evolve())
	assert.JSONEq(t, `{"error":"bad event","document":1,"index":1}`, evolve(doc("a", `null`, ev), doc("b", `null`, ev, `{"type":"Bad","data":{}}`, ev)))
	assert.Contains(t, string(m.evolveBatch([]byte(`{"documents":[{"document":nul`))), `"error":"decoding document`)
	assert.Contains(t, string(m.evolveBatch([]byte(`{"documents":[{"document":null,"events":[1]}]}`))), `"error":"decoding evolve input: invalid JSON`)
	assert.Contains(t, evolve(doc("a", `"x"`, ev)), `"error":"decoding document`)
	assert.JSONEq(t, `{"error":"the module registers no projection"}`, string((&module{}).evolveBatch([]byte(`{}`))))

	raw := &module{}
	raw.registerProjection(Projection{Evolve: EvolveJSON(func(doc []byte, e Event) ([]byte, error) {
		if e.Type == "Bad" {
			return nil, errors.New("bad")
		}
		return append(append([]byte(`[`), e.Data...), ']'), nil
	})})
	assert.JSONEq(t, `{"documents":[{"document":[2]}]}`, string(raw.evolveBatch([]byte(`{"documents":[{"document":null,"events":[{"type":"A","data":1},{"type":"A","data":2}]}]}`))))
	assert.JSONEq(t, `{"error":"bad","document":0,"index":0}`, string(raw.evolveBatch([]byte(`{"documents":[{"document":null,"events":[{"type":"Bad","data":1}]}]}`))))
}

func TestDocumentIDsBatch(t *testing.T) {
	m := testModule()
	assert.JSONEq(t, `{"ids":[["s-1","all \"clicks\""],[]]}`, string(m.documentIDsBatch([]byte(
		`{"events":[{"type":"Clicked","data":{},"streamName":"s-1"},{"type":"Reset","data":{},"streamName":"s-1"}]}`))))
	single := &module{}
	single.registerProjection(Projection{Evolve: EvolveJSON(func([]byte, Event) ([]byte, error) { return nil, nil })})
	assert.JSONEq(t, `{"ids":[["s-2"]]}`, string(single.documentIDsBatch([]byte(`{"events":[{"type":"X","data":{},"streamName":"s-2"}]}`))))
	failing := &module{}
	failing.registerProjection(Projection{
		DocumentIDs: func(e Event) ([]string, error) {
			if e.Type == "Bad" {
				return nil, errors.New("no ids")
			}
			return nil, nil
		},
		Evolve: EvolveJSON(func([]byte, Event) ([]byte, error) { return nil, nil }),
	})
	assert.JSONEq(t, `{"error":"no ids","index":1}`, string(failing.documentIDsBatch([]byte(`{"events":[{"type":"X","data":{}},{"type":"Bad","data":{}}]}`))))
}

func TestTransformBatch(t *testing.T) {
	m := testModule()
	out := m.transformBatch([]byte(`{"events":[{"type":"Old","data":{"price":9.5},"metadata":{"correlationId":"c"},"streamName":"s","messageId":"m"},` +
		`{"type":"Old","data":{"price":1},"metadata":{},"streamName":"s","messageId":"n"}]}`))
	// What the results keep of their event (metadata, message id) is left
	// out: the host keeps it.
	assert.JSONEq(t, `{"events":[[{"type":"New","data":{"unitPrice":9.5}}],[{"type":"New","data":{"unitPrice":1}}]]}`, string(out))
	assert.JSONEq(t, `{"error":"decoding Old data: json: cannot unmarshal array into Go value of type struct { Price float64 \"json:\\\"price\\\"\" }","index":1}`,
		string(m.transformBatch([]byte(`{"events":[{"type":"Old","data":{}},{"type":"Old","data":[]}]}`))))
	drop := &module{}
	drop.registerTransform(Transform{Transform: func(Event) ([]Event, error) { return nil, nil }})
	assert.JSONEq(t, `{"events":[[]]}`, string(drop.transformBatch([]byte(`{"events":[{"type":"X","data":{}}]}`))))
	split := &module{}
	split.registerTransform(Transform{Transform: func(e Event) ([]Event, error) {
		second := e
		second.Metadata = json.RawMessage(`{"split":true}`)
		second.MessageID = "m-2"
		return []Event{e, second}, nil
	}})
	assert.JSONEq(t, `{"events":[[{"type":"X","data":{}},{"type":"X","data":{},"metadata":{"split":true},"messageId":"m-2"}]]}`,
		string(split.transformBatch([]byte(`{"events":[{"type":"X","data":{},"metadata":{},"messageId":"m-1"}]}`))))
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

// parseTime reads what time.Time's UnmarshalText reads, to the same time.
func TestParseTimeAgreesWithUnmarshalText(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := []string{"2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567891Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-01-01T00:00:00+01:00", "2024-01-01 00:00:00Z", "2024-1-01T00:00:00Z",
		"2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00-00:00", "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+23:60", "2024-01-01T00:00:00+0100",
		"2024-01-01T00:00:00.5-05:30", "0001-01-01T00:30:00+01:00"}
	for range 20000 {
		tm := time.Unix(rng.Int64N(253402300800+62135596800)-62135596800, rng.Int64N(1e9)).UTC()
		if rng.IntN(4) == 0 {
			tm = tm.Truncate(time.Second)
		}
		zoned := tm.In(time.FixedZone("", (rng.IntN(48)-24)*1800))
		inputs = append(inputs, tm.Format(time.RFC3339Nano), tm.Format("2006-01-02T15:04:05.000Z"), zoned.Format(time.RFC3339Nano),
			zoned.Format("2006-01-02T15:04:05-07:00"))
	}
	for _, in := range inputs {
		var want time.Time
		wantErr := want.UnmarshalText([]byte(in))
		got, err := parseTime([]byte(in))
		assert.Equal(t, wantErr == nil, err == nil, in)
		assert.True(t, want.Equal(got), "%s: %v, want %v", in, got, want)
		_, wantOffset := want.Zone()
		_, gotOffset := got.Zone()
		assert.Equal(t, wantOffset, gotOffset, in)
		assert.Equal(t, want.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano), in)
		if want.Location() == time.UTC || want.Location() == time.Local {
			assert.Equal(t, want.Location(), got.Location(), in)
		}
	}
}

// The members of an envelope in another order than the host's, or
// unknown ones, read the same.
func TestParseEventInAnyOrder(t *testing.T) {
	want, err := parseEvent([]byte(envelope))
	require.NoError(t, err)
	shuffled := `{"future": 1, "created": "2025-03-01T09:00:00.123456789Z", "messageId": "m-1", "transactionId": 18446744073709551615,
		"globalPosition": 42, "streamPosition": 3, "streamName": "cart-é1", "metadata": {"correlationId": "c-1"},
		"data": {"a": [1, 2.5e3, -3, {"b": "c\\"}], "n": null, "t": true, "f": false}, "type": "Added\u00e9\"x"}`
	got, err := parseEvent([]byte(shuffled))
	require.NoError(t, err)
	assert.JSONEq(t, string(want.Data), string(got.Data))
	got.Data, want.Data = nil, nil
	assert.Equal(t, want, got)
}

// The data's length, when the host gives it, saves reading through the
// data; a length that does not end the data is not used.
func TestParseEventTakesTheDataByItsLength(t *testing.T) {
	for _, in := range []string{
		`{"type":"A","dataLength":13,"data":{"a":[1,"}"]},"schemaVersion":2}`,
		`{"type":"A","dataLength":5,"data":{"a":[1,"}"]},"schemaVersion":2}`,
		`{"type":"A","dataLength":99,"data":{"a":[1,"}"]},"schemaVersion":2}`,
		`{"type":"A","data":{"a":[1,"}"]},"dataLength":13,"schemaVersion":2}`,
	} {
		e, err := parseEvent([]byte(in))
		require.NoError(t, err, in)
		assert.Equal(t, `{"a":[1,"}"]}`, string(e.Data), in)
		assert.Equal(t, 2, e.SchemaVersion, in)
	}
}
