package guest

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// item and order are types that read and write themselves, as a guest
// writes them; their json tags give encoding/json the same shape, to
// compare with.
type item struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	Price float64   `json:"price"`
	Big   int64     `json:"big"`
	Size  uint64    `json:"size"`
	Ok    bool      `json:"ok"`
	At    time.Time `json:"at"`
}

func (it *item) DecodeJSON(d *Decoder) {
	for key := range d.Object() {
		switch string(key) {
		case "name":
			it.Name = d.String()
		case "count":
			it.Count = d.Int()
		case "price":
			it.Price = d.Float64()
		case "big":
			it.Big = d.Int64()
		case "size":
			it.Size = d.Uint64()
		case "ok":
			it.Ok = d.Bool()
		case "at":
			it.At = d.Time()
		default:
			d.Skip()
		}
	}
}

func (it item) EncodeJSON(e *Encoder) {
	e.BeginObject()
	e.Key("name")
	e.String(it.Name)
	e.Key("count")
	e.Int(it.Count)
	e.Key("price")
	e.Float64(it.Price)
	e.Key("big")
	e.Int64(it.Big)
	e.Key("size")
	e.Uint64(it.Size)
	e.Key("ok")
	e.Bool(it.Ok)
	e.Key("at")
	e.Time(it.At)
	e.EndObject()
}

type order struct {
	ID     string          `json:"id"`
	Items  []item          `json:"items"`
	Note   *string         `json:"note"`
	Extra  json.RawMessage `json:"extra"`
	Closed *time.Time      `json:"closed,omitempty"`
}

func (o *order) DecodeJSON(d *Decoder) {
	for key := range d.Object() {
		switch string(key) {
		case "id":
			o.ID = d.String()
		case "items":
			if d.Null() {
				o.Items = nil
				continue
			}
			o.Items = []item{}
			for range d.Array() {
				var it item
				it.DecodeJSON(d)
				o.Items = append(o.Items, it)
			}
		case "note":
			if !d.Null() {
				s := d.String()
				o.Note = &s
			}
		case "extra":
			o.Extra = append(json.RawMessage{}, d.Raw()...)
		case "closed":
			if !d.Null() {
				t := d.Time()
				o.Closed = &t
			}
		default:
			d.Skip()
		}
	}
}

func (o *order) EncodeJSON(e *Encoder) {
	e.BeginObject()
	e.Key("id")
	e.String(o.ID)
	e.Key("items")
	if o.Items == nil {
		e.Null()
	} else {
		e.BeginArray()
		for _, it := range o.Items {
			it.EncodeJSON(e)
		}
		e.EndArray()
	}
	e.Key("note")
	if o.Note == nil {
		e.Null()
	} else {
		e.String(*o.Note)
	}
	e.Key("extra")
	e.Raw(o.Extra)
	if o.Closed != nil {
		e.Key("closed")
		e.Time(*o.Closed)
	}
	e.EndObject()
}

func randomOrder(rng *rand.Rand) *order {
	strs := []string{"", "plain", "<b>&amp;</b>", "quote\" back\\ nl\n", "é 日本 😀", "bad \xff utf8", "line\u2028sep", "a string longer than thirty-two bytes, to the slow path"}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -5*3600-1800)}
	o := &order{ID: strs[rng.IntN(len(strs))], Extra: json.RawMessage(`{"any":[1,"x",null]}`)}
	if rng.IntN(3) > 0 {
		o.Items = []item{}
	}
	for range rng.IntN(4) {
		price := []float64{0, 9.99, 0.1, 1e21, 1e-7, 123456.789, -17.5, float64(rng.IntN(100000)) / 100, rng.NormFloat64() * 1e6, math.Float64frombits(rng.Uint64() &^ (0x7ff << 52))}[rng.IntN(10)]
		o.Items = append(o.Items, item{
			Name: strs[rng.IntN(len(strs))], Count: rng.IntN(2000) - 1000, Price: price,
			Big: rng.Int64() - math.MaxInt64/2, Size: rng.Uint64(), Ok: rng.IntN(2) == 0,
			At: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2))).In(zones[rng.IntN(len(zones))]),
		})
	}
	if rng.IntN(2) == 0 {
		n := strs[rng.IntN(len(strs))]
		o.Note = &n
	}
	if rng.IntN(2) == 0 {
		c := time.Date(2025, 3, 1, 9, 0, 0, 0, zones[rng.IntN(len(zones))])
		o.Closed = &c
	}
	return o
}

// The Encoder writes what encoding/json writes, and the Decoder reads it
// back to what encoding/json reads.
func TestCodecAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		o := randomOrder(rng)
		want, err := json.Marshal(o)
		require.NoError(t, err)
		got, err := Marshal(o)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))

		var back, wantBack order
		require.NoError(t, Unmarshal(got, &back))
		require.NoError(t, json.Unmarshal(want, &wantBack))
		again, err := json.Marshal(&back)
		require.NoError(t, err)
		wantAgain, err := json.Marshal(&wantBack)
		require.NoError(t, err)
		require.Equal(t, string(wantAgain), string(again))
	}
}

// The numbers read the short way read as strconv reads them.
func TestDecoderNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var in []string
	for range 20000 {
		f := float64(rng.Int64N(1e15)) / math.Pow(10, float64(rng.IntN(16)))
		if rng.IntN(2) == 0 {
			f = -f
		}
		in = append(in, strconv.FormatFloat(f, 'f', -1, 64), strconv.FormatFloat(f, 'f', rng.IntN(8), 64))
	}
	in = append(in, "0", "-0", "0.0", "1", "123456789012345", "1234567890123456", "12345678901234567890", "0.1", "0.30000000000000004", "1e3",
		"1E-2", "9007199254740993", "-9223372036854775808", "9223372036854775807", "9223372036854775808")
	for _, n := range in {
		want, err := strconv.ParseFloat(n, 64)
		require.NoError(t, err)
		d := NewDecoder([]byte(n + ","))
		got := d.Float64()
		require.NoError(t, d.Err(), n)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), n)

		wantInt, intErr := strconv.ParseInt(n, 10, 64)
		if intErr != nil {
			wantInt = 0
		}
		d = NewDecoder([]byte(n + "}"))
		gotInt := d.Int64()
		assert.Equal(t, intErr == nil, d.Err() == nil, n)
		assert.Equal(t, wantInt, gotInt, n)
	}
}

func TestDecoderRefusesWhatIsNotItsType(t *testing.T) {
	for _, c := range []struct {
		in   string
		read func(d *Decoder)
	}{
		{`"x"`, func(d *Decoder) { d.Int() }},
		{`1.5`, func(d *Decoder) { d.Int() }},
		{`1e2`, func(d *Decoder) { d.Int64() }},
		{`-1`, func(d *Decoder) { d.Uint64() }},
		{`9223372036854775808`, func(d *Decoder) { d.Int64() }},
		{`1`, func(d *Decoder) { _ = d.String() }},
		{`"yesterday"`, func(d *Decoder) { d.Time() }},
		{`"2024-02-30T00:00:00Z"`, func(d *Decoder) { d.Time() }},
		{`[1]`, func(d *Decoder) {
			for range d.Object() {
				d.Skip()
			}
		}},
		{`{"a":1}`, func(d *Decoder) {
			for range d.Array() {
				d.Skip()
			}
		}},
		{`nul`, func(d *Decoder) { d.Bool() }},
		{`{"a" 1}`, func(d *Decoder) {
			for range d.Object() {
				d.Skip()
			}
		}},
	} {
		d := NewDecoder([]byte(c.in))
		c.read(d)
		assert.Error(t, d.Err(), c.in)
	}
	// null reads as the zero value.
	d := NewDecoder([]byte(`[null,null,null,null,null,null]`))
	var got []any
	for i := range d.Array() {
		switch i {
		case 0:
			got = append(got, d.String())
		case 1:
			got = append(got, d.Int())
		case 2:
			got = append(got, d.Float64())
		case 3:
			got = append(got, d.Bool())
		case 4:
			got = append(got, d.Time())
		default:
			for range d.Object() {
				t.Fatal("no member")
			}
		}
	}
	require.NoError(t, d.Err())
	assert.Equal(t, []any{"", 0, 0.0, false, time.Time{}}, got)

	// Trailing input is refused by Unmarshal.
	var it item
	assert.Error(t, Unmarshal([]byte(`{"name":"x"} {}`), &it))
}

func TestEncoderErrors(t *testing.T) {
	for _, write := range []func(e *Encoder){
		func(e *Encoder) { e.Float64(math.NaN()) },
		func(e *Encoder) { e.Float64(math.Inf(-1)) },
		func(e *Encoder) { e.Time(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) },
	} {
		var e Encoder
		write(&e)
		assert.Error(t, e.Err())
	}
	var e Encoder
	e.BeginArray()
	e.Raw(nil)
	e.Null()
	e.BeginObject()
	e.EndObject()
	e.EndArray()
	assert.Equal(t, `[null,null,{}]`, string(e.Bytes()))
}

// Event.Decode and Event.With use the codec of a type that has one.
func TestEventUsesTheCodec(t *testing.T) {
	e := Event{Type: "Ordered", Data: json.RawMessage(`{"id":"o-1","items":[],"note":null,"extra":{}}`)}
	var o order
	require.NoError(t, e.Decode(&o))
	assert.Equal(t, "o-1", o.ID)
	next, err := e.With("Reordered", &o)
	require.NoError(t, err)
	assert.Equal(t, `{"id":"o-1","items":[],"note":null,"extra":{}}`, string(next.Data))
	assert.ErrorContains(t, Event{Type: "Ordered", Data: json.RawMessage(`[1]`)}.Decode(&item{}), "decoding Ordered data")
}
