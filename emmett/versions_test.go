package emmett_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PriceSet is at version 3: v1 stored {"cents":N}, v2 {"amount":"N.NN"},
// v3 {"amount":{"value":"N.NN","currency":"EUR"}}.
type PriceSet struct {
	Amount Money `json:"amount"`
}

type Money struct {
	Value    string `json:"value"`
	Currency string `json:"currency"`
}

func (PriceSet) EventType() string { return "PriceSet" }

type Discontinued struct {
	Reason string `json:"reason"`
}

type priceEvent interface{}

func priceV1toV2(data []byte) ([]byte, error) {
	var v1 struct {
		Cents *int `json:"cents"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	if v1.Cents == nil {
		return nil, errors.New("no cents")
	}
	c := *v1.Cents
	return json.Marshal(map[string]string{"amount": formatCents(c)})
}

func formatCents(c int) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

type priceV2 struct {
	Amount string `json:"amount"`
}

var priceV2toV3 = emmett.UpcastJSON(func(old priceV2) (PriceSet, error) {
	if old.Amount == "" {
		return PriceSet{}, errors.New("no amount")
	}
	return PriceSet{Amount: Money{Value: old.Amount, Currency: "EUR"}}, nil
})

func priceRegistry() *emmett.Events[priceEvent] {
	return emmett.NewEvents[priceEvent](PriceSet{}, Discontinued{}).
		Upcast("PriceSet", 1, emmett.UpcastFunc(priceV1toV2)).
		Upcast("PriceSet", 2, priceV2toV3).
		Renamed("ProductDropped", "Discontinued")
}

func TestUpcastChain(t *testing.T) {
	r := priceRegistry()
	v, ok := r.SchemaVersion("PriceSet")
	require.True(t, ok)
	assert.Equal(t, 3, v)
	v, _ = r.SchemaVersion("Discontinued")
	assert.Equal(t, 1, v, "a type without upcasters is at version 1")

	want := PriceSet{Amount: Money{Value: "12.50", Currency: "EUR"}}
	for _, c := range []struct {
		version int
		data    string
	}{
		{1, `{"cents":1250}`},
		{2, `{"amount":"12.50"}`},
		{3, `{"amount":{"value":"12.50","currency":"EUR"}}`},
		{0, `{"amount":{"value":"12.50","currency":"EUR"}}`}, // the store does not tell: current
	} {
		got, err := r.DecodeVersion("PriceSet", c.version, []byte(c.data))
		require.NoError(t, err, "version %d", c.version)
		assert.Equal(t, want, got, "version %d", c.version)
		rec, err := r.DecodeRecorded(emmett.RecordedEvent{Type: "PriceSet", SchemaVersion: c.version, Data: []byte(c.data), StreamName: "p-1"})
		require.NoError(t, err)
		assert.Equal(t, want, rec.Event)
		assert.Equal(t, "p-1", rec.StreamName, "the envelope is kept")
	}
	name, current, data, err := r.Upgrade("PriceSet", 1, []byte(`{"cents":5}`))
	require.NoError(t, err)
	assert.Equal(t, "PriceSet", name)
	assert.Equal(t, 3, current)
	assert.JSONEq(t, `{"amount":{"value":"0.05","currency":"EUR"}}`, string(data))

	// Writes store the current version.
	name, version, data, err := r.EncodeVersion(want)
	require.NoError(t, err)
	assert.Equal(t, "PriceSet", name)
	assert.Equal(t, 3, version)
	assert.JSONEq(t, `{"amount":{"value":"12.50","currency":"EUR"}}`, string(data))
}

func TestRenamedType(t *testing.T) {
	r := priceRegistry()
	assert.True(t, r.Has("ProductDropped"))
	assert.Equal(t, []string{"PriceSet", "Discontinued", "ProductDropped"}, r.ReadNames())
	assert.Equal(t, []string{"PriceSet", "Discontinued"}, r.Names())
	got, err := r.DecodeRecorded(emmett.RecordedEvent{Type: "ProductDropped", SchemaVersion: 1, Data: []byte(`{"reason":"old"}`)})
	require.NoError(t, err)
	assert.Equal(t, Discontinued{Reason: "old"}, got.Event)
	name, _, _, err := r.EncodeVersion(Discontinued{})
	require.NoError(t, err)
	assert.Equal(t, "Discontinued", name, "writes use the new name")
}

func TestDowncast(t *testing.T) {
	r := priceRegistry().Downcast("PriceSet", 2, func(data []byte) ([]byte, error) {
		var cur PriceSet
		if err := json.Unmarshal(data, &cur); err != nil {
			return nil, err
		}
		return json.Marshal(priceV2{Amount: cur.Amount.Value})
	})
	ev := PriceSet{Amount: Money{Value: "3.10", Currency: "EUR"}}
	name, version, data, err := r.EncodeVersion(ev)
	require.NoError(t, err)
	assert.Equal(t, "PriceSet", name)
	assert.Equal(t, 2, version, "written at the older version")
	assert.JSONEq(t, `{"amount":"3.10"}`, string(data))
	back, err := r.DecodeVersion(name, version, data)
	require.NoError(t, err)
	assert.Equal(t, ev, back, "read back through the upcasters")
}

func TestVersionErrors(t *testing.T) {
	r := priceRegistry()
	_, err := r.DecodeVersion("PriceSet", 4, []byte(`{}`))
	require.ErrorIs(t, err, emmett.ErrUnknownSchemaVersion, "a version newer than the code's")
	_, err = r.DecodeVersion("PriceSet", -1, []byte(`{}`))
	require.ErrorIs(t, err, emmett.ErrUnknownSchemaVersion)
	_, err = r.DecodeVersion("Discontinued", 2, []byte(`{}`))
	require.ErrorIs(t, err, emmett.ErrUnknownSchemaVersion)
	_, err = r.DecodeVersion("Gone", 1, []byte(`{}`))
	require.ErrorIs(t, err, emmett.ErrUnknownEventType)

	_, err = r.DecodeVersion("PriceSet", 1, []byte(`{"price":3}`))
	var uerr *emmett.UpcastError
	require.ErrorAs(t, err, &uerr)
	assert.Equal(t, 1, uerr.From)
	require.ErrorIs(t, err, emmett.ErrMalformedEvent)
	assert.Contains(t, err.Error(), "no cents")

	bad := emmett.NewEvents[priceEvent](PriceSet{}).Upcast("PriceSet", 1, emmett.UpcastFunc(func([]byte) ([]byte, error) { return []byte(`{`), nil }))
	_, err = bad.DecodeVersion("PriceSet", 1, []byte(`{}`))
	require.ErrorIs(t, err, emmett.ErrMalformedEvent, "an upcaster's invalid JSON is caught")
}

func TestVersionDeclarations(t *testing.T) {
	base := emmett.NewEvents[priceEvent](PriceSet{}, Discontinued{})
	up := base.Upcast("PriceSet", 1, emmett.UpcastFunc(priceV1toV2))
	v, _ := base.SchemaVersion("PriceSet")
	assert.Equal(t, 1, v, "Upcast leaves the registry it is called on unchanged")
	v, _ = up.SchemaVersion("PriceSet")
	assert.Equal(t, 2, v)

	assert.Panics(t, func() { base.Upcast("PriceSet", 2, emmett.UpcastFunc(priceV1toV2)) }, "upcasters come in order")
	assert.Panics(t, func() { base.Upcast("Nope", 1, emmett.UpcastFunc(priceV1toV2)) }, "an unknown type")
	assert.Panics(t, func() { base.Upcast("PriceSet", 1, emmett.Upcaster{}) })
	assert.Panics(t, func() { base.Renamed("Discontinued", "PriceSet") }, "a registered name cannot be an old one")
	assert.Panics(t, func() { base.Renamed("Old", "Nope") })
	assert.Panics(t, func() { base.Renamed("Old", "PriceSet").Renamed("Old", "Discontinued") })
	assert.Panics(t, func() { up.Downcast("PriceSet", 2, priceV1toV2) }, "not older than the current version")
	assert.Panics(t, func() { base.Downcast("PriceSet", 1, priceV1toV2) })
}

// FuzzUpcastChain feeds any JSON, at any version, to the chain: it never
// panics, and it either decodes into the current type or fails with an
// error that matches one of the registry's sentinels.
func FuzzUpcastChain(f *testing.F) {
	for _, seed := range []struct {
		v    int
		data string
	}{
		{1, `{"cents":1250}`}, {1, `{"cents":-7}`}, {2, `{"amount":"1.00"}`}, {3, `{"amount":{"value":"1","currency":"EUR"}}`},
		{1, `null`}, {2, `[]`}, {1, `{"cents":1e309}`}, {2, `{"amount":"\u0000"}`}, {0, `{`}, {9, `{}`},
	} {
		f.Add(seed.v, []byte(seed.data))
	}
	r := priceRegistry()
	f.Fuzz(func(t *testing.T, version int, data []byte) {
		got, err := r.DecodeVersion("PriceSet", version, data)
		if err != nil {
			if !errors.Is(err, emmett.ErrMalformedEvent) && !errors.Is(err, emmett.ErrUnknownSchemaVersion) {
				t.Fatalf("version %d %q: an error no sentinel matches: %v", version, data, err)
			}
			return
		}
		if version >= 1 && version < 3 {
			// What an upcaster made is the current form: it encodes and
			// decodes back to the same value.
			again, err := json.Marshal(got)
			require.NoError(t, err)
			back, err := r.DecodeVersion("PriceSet", 3, again)
			require.NoError(t, err)
			require.Equal(t, got, back)
			require.Equal(t, "EUR", got.(PriceSet).Amount.Currency)
		}
	})
}

type priceV1 struct {
	Cents *int `json:"cents"`
}

var priceV1toV2Typed = emmett.UpcastJSON(func(old priceV1) (priceV2, error) {
	if old.Cents == nil {
		return priceV2{}, errors.New("no cents")
	}
	return priceV2{Amount: formatCents(*old.Cents)}, nil
})

// TestTypedChain decodes through upcasters written with Go types: once,
// with Go conversions between the steps, and through JSON where a step's
// result is not the next step's input type or not the registered type.
func TestTypedChain(t *testing.T) {
	typed := emmett.NewEvents[priceEvent](PriceSet{}, &Discontinued{}).
		Upcast("PriceSet", 1, priceV1toV2Typed).
		Upcast("PriceSet", 2, priceV2toV3)
	want := PriceSet{Amount: Money{Value: "12.50", Currency: "EUR"}}
	got, err := typed.DecodeVersion("PriceSet", 1, []byte(`{"cents":1250}`))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	_, err = typed.DecodeVersion("PriceSet", 1, []byte(`{"price":1}`))
	var uerr *emmett.UpcastError
	require.ErrorAs(t, err, &uerr)
	assert.Equal(t, 1, uerr.From)
	_, err = typed.DecodeVersion("PriceSet", 2, []byte(`{"amount":""}`))
	require.ErrorAs(t, err, &uerr)
	assert.Equal(t, 2, uerr.From, "the second step's error")
	_, err = typed.DecodeVersion("PriceSet", 1, []byte(`[`))
	require.ErrorIs(t, err, emmett.ErrMalformedEvent)

	// A step whose input is not the previous one's result type, and a
	// last step that does not give the registered type.
	type amountOnly struct {
		Amount string `json:"amount"`
	}
	mixed := emmett.NewEvents[priceEvent](PriceSet{}, &Discontinued{}).
		Upcast("PriceSet", 1, priceV1toV2Typed).
		Upcast("PriceSet", 2, emmett.UpcastJSON(func(old amountOnly) (map[string]any, error) {
			return map[string]any{"amount": map[string]string{"value": old.Amount, "currency": "EUR"}}, nil
		})).
		Upcast("Discontinued", 1, emmett.UpcastJSON(func(old struct{ Why string }) (Discontinued, error) {
			return Discontinued{Reason: old.Why}, nil
		}))
	got, err = mixed.DecodeVersion("PriceSet", 1, []byte(`{"cents":1250}`))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = mixed.DecodeVersion("Discontinued", 1, []byte(`{"Why":"old"}`))
	require.NoError(t, err)
	assert.Equal(t, &Discontinued{Reason: "old"}, got, "a registered pointer type gets a pointer")

	name, _, data, err := typed.Upgrade("PriceSet", 1, []byte(`{"cents":1}`))
	require.NoError(t, err)
	assert.Equal(t, "PriceSet", name)
	assert.JSONEq(t, `{"amount":{"value":"0.01","currency":"EUR"}}`, string(data))
}

// Noted is an event of a second registry, for UpgradeAny.
type Noted struct {
	Text string `json:"text"`
}

func TestUpgradeAny(t *testing.T) {
	prices := priceRegistry()
	notes := emmett.NewEvents[Noted](Noted{})
	upgrade := emmett.UpgradeAny(prices.Upgrade, notes.Upgrade)

	name, v, data, err := upgrade("PriceSet", 1, []byte(`{"cents":250}`))
	require.NoError(t, err)
	assert.Equal(t, "PriceSet", name)
	assert.Equal(t, 3, v)
	assert.JSONEq(t, `{"amount":{"value":"2.50","currency":"EUR"}}`, string(data))

	name, v, data, err = upgrade("Noted", 1, []byte(`{"text":"hi"}`))
	require.NoError(t, err, "the second registry upgrades its own type")
	assert.Equal(t, []any{"Noted", 1, `{"text":"hi"}`}, []any{name, v, string(data)})

	_, _, _, err = upgrade("PriceSet", 4, []byte(`{}`))
	assert.ErrorIs(t, err, emmett.ErrUnknownSchemaVersion, "the registry that knows the type answers; the next is not asked")
	_, _, _, err = upgrade("Nothing", 1, []byte(`{}`))
	assert.ErrorIs(t, err, emmett.ErrUnknownEventType)
	_, _, _, err = emmett.UpgradeAny()("Nothing", 1, []byte(`{}`))
	assert.ErrorIs(t, err, emmett.ErrUnknownEventType)

	rec := emmett.RecordedEvent{MessageID: "m-1", Type: "ProductDropped", SchemaVersion: 1, Data: []byte(`{"productId":"p"}`), StreamName: "product-p", StreamPosition: 3}
	up, err := rec.Upgraded(upgrade)
	require.NoError(t, err)
	assert.Equal(t, "Discontinued", up.Type)
	assert.Equal(t, rec.StreamPosition, up.StreamPosition)
	_, err = emmett.RecordedEvent{MessageID: "m-2", Type: "Nothing", StreamName: "s", StreamPosition: 1}.Upgraded(upgrade)
	assert.ErrorContains(t, err, `event m-2 (stream "s", position 1)`)
}

func TestMergeSchemas(t *testing.T) {
	merged := emmett.MergeSchemas(priceRegistry().Schema(), emmett.NewEvents[Noted](Noted{}).Schema())
	assert.Equal(t, emmett.Schema{
		Types:   map[string]int{"PriceSet": 3, "Discontinued": 1, "Noted": 1},
		Renamed: map[string]string{"ProductDropped": "Discontinued"},
	}, merged)
	assert.NoError(t, merged.Reads("ProductDropped", 1))
	assert.NoError(t, merged.Reads("Noted", 1))
	assert.ErrorIs(t, merged.Reads("PriceSet", 4), emmett.ErrUnknownSchemaVersion)
	assert.Equal(t, emmett.Schema{Types: map[string]int{}}, emmett.MergeSchemas())
}
