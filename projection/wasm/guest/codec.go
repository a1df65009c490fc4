package guest

import (
	"errors"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"
)

// A JSON codec without reflection. encoding/json finds its way through a
// value with reflection, which costs most in WebAssembly; types that read
// and write themselves with a Decoder and an Encoder (Decodable,
// Encodable) do not. Event.Decode, Event.With and Evolve use these methods
// when a type has them, and encoding/json otherwise.
//
// The Encoder writes what encoding/json writes for the same values (field
// order aside, which is the order of the calls): strings escaped alike
// (HTML characters included), floats in the same shortest form, times in
// RFC 3339 with nanoseconds. The Decoder reads what encoding/json reads,
// with three differences: keys match exactly (encoding/json also accepts
// keys that differ in case), a number that does not fit the type asked for
// is an error rather than a partial decoding, and the values it skips (and
// Raw returns) are not checked, only delimited: its input is the host's,
// which is JSON.

// Decodable is implemented by types that read themselves from JSON with a
// Decoder. DecodeJSON reads exactly one value (an object, usually, with
// Decoder.Object); errors are kept by the Decoder.
type Decodable interface {
	DecodeJSON(d *Decoder)
}

// Encodable is implemented by types that write themselves as JSON with an
// Encoder. EncodeJSON writes exactly one value; errors are kept by the
// Encoder.
type Encodable interface {
	EncodeJSON(e *Encoder)
}

// Unmarshal decodes data, one JSON value, into v.
func Unmarshal(data []byte, v Decodable) error {
	d := decoders.Get().(*Decoder)
	d.s, d.err = jsonx.Scanner{B: data}, nil
	v.DecodeJSON(d)
	err := d.end()
	d.s.B = nil
	decoders.Put(d)
	return err
}

// decoders keeps Decoders, and their caches of strings, from one Unmarshal
// to the next.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// Marshal returns the JSON of v.
func Marshal(v Encodable) ([]byte, error) {
	var e Encoder
	v.EncodeJSON(&e)
	return e.Bytes(), e.Err()
}

// Decoder reads JSON values one after the other. Its methods read the next
// value as the type they name; on an error (the input is not JSON, or the
// value is not of that type) the Decoder keeps the first error, reads
// nothing more and returns zero values: check Err once at the end.
//
// null reads as the zero value (an empty Object or Array, "", 0, false, the
// zero time), as encoding/json leaves a field it decodes null into.
type Decoder struct {
	s       jsonx.Scanner
	err     error
	key     []byte // a key with escapes, unescaped
	strings *[256]string
}

// maxShared is the length up to which String returns strings it returned
// before for the same bytes (the same values recur in data: currencies,
// statuses, ids), rather than allocating each.
const maxShared = 24

// shared returns a string of raw, one returned before when it can.
func (d *Decoder) shared(raw []byte) string {
	if len(raw) > maxShared || len(raw) == 0 {
		return string(raw)
	}
	if d.strings == nil {
		d.strings = new([256]string)
	}
	slot := &d.strings[(uint(len(raw))*31+uint(raw[0])*7+uint(raw[len(raw)-1]))&255]
	if *slot != string(raw) {
		*slot = string(raw)
	}
	return *slot
}

// NewDecoder returns a Decoder reading data.
func NewDecoder(data []byte) *Decoder { return &Decoder{s: jsonx.Scanner{B: data}} }

// Err returns the first error the Decoder met.
func (d *Decoder) Err() error { return d.err }

// Fail records err (the first error is kept) and stops the reading: a
// DecodeJSON method calls it for a value it refuses.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
		d.s.I = len(d.s.B)
	}
}

func (d *Decoder) check(err error) bool {
	if err != nil {
		d.Fail(err)
		return false
	}
	return d.err == nil
}

// end checks that the input holds nothing more.
func (d *Decoder) end() error {
	if d.err == nil {
		d.check(d.s.End())
	}
	return d.err
}

// Null reads null and reports true if it is next; otherwise it reads
// nothing. Use it for pointers and other fields where null means something
// apart:
//
//	if !d.Null() {
//		t := d.Time()
//		doc.ConfirmedAt = &t
//	}
func (d *Decoder) Null() bool { return d.err == nil && d.s.Null() }

// Object reads an object, yielding each member's key; the loop's body must
// read the member's value (Skip it if unknown). The key is valid until the
// next read: copy it (string(key)) to keep it.
//
//	for key := range d.Object() {
//		switch string(key) {
//		case "id":
//			doc.ID = d.String()
//		default:
//			d.Skip()
//		}
//	}
func (d *Decoder) Object() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if d.err != nil || d.s.Null() {
			return
		}
		more, err := d.s.Open('{')
		for more && d.check(err) {
			key, err := d.readKey()
			if !d.check(err) || !yield(key) {
				return
			}
			more, err = d.next('}')
		}
		d.check(err)
	}
}

// next reads what follows a member or an element: a comma (true) or the
// closing bracket (false); without white space, the short way.
func (d *Decoder) next(closing byte) (bool, error) {
	if b, i := d.s.B, d.s.I; i < len(b) {
		switch b[i] {
		case ',':
			d.s.I++
			return true, nil
		case closing:
			d.s.I++
			return false, nil
		}
	}
	return d.s.Next(closing - 2)
}

func (d *Decoder) readKey() ([]byte, error) {
	// The common case: a plain key, then a colon, no white space.
	if b, i := d.s.B, d.s.I; i < len(b) && b[i] == '"' {
		j := i + 1
		for j < len(b) && jsonx.Class[b[j]]&jsonx.StringStop == 0 {
			j++
		}
		if j+1 < len(b) && b[j] == '"' && b[j+1] == ':' {
			d.s.I = j + 2
			return b[i+1 : j], nil
		}
	}
	if d.s.Peek() != '"' {
		return nil, d.s.Fail("a key")
	}
	key, escaped, err := d.s.RawString()
	if err != nil {
		return nil, err
	}
	if escaped {
		if d.key, err = jsonx.Unquote(d.key[:0], key); err != nil {
			return nil, err
		}
		key = d.key
	}
	if !d.s.Consume(':') {
		return nil, d.s.Fail("':'")
	}
	return key, nil
}

// Array reads an array, yielding the index of each element; the loop's
// body must read the element.
//
//	for range d.Array() {
//		var item Item
//		item.DecodeJSON(d)
//		doc.Items = append(doc.Items, item)
//	}
func (d *Decoder) Array() iter.Seq[int] {
	return func(yield func(int) bool) {
		if d.err != nil || d.s.Null() {
			return
		}
		more, err := d.s.Open('[')
		for i := 0; more && d.check(err); i++ {
			if !yield(i) || d.err != nil {
				return
			}
			more, err = d.next(']')
		}
		d.check(err)
	}
}

// String reads a string.
func (d *Decoder) String() string {
	// The common case: plain ASCII, no white space before.
	if b, i := d.s.B, d.s.I; d.err == nil && i < len(b) && b[i] == '"' {
		j := i + 1
		for j < len(b) && jsonx.Class[b[j]]&(jsonx.StringStop|jsonx.NonASCII) == 0 {
			j++
		}
		if j < len(b) && b[j] == '"' {
			d.s.I = j + 1
			return d.shared(b[i+1 : j])
		}
	}
	if d.err != nil || d.s.Null() {
		return ""
	}
	v, err := d.s.String()
	d.check(err)
	return v
}

// Int reads an integer that fits an int.
func (d *Decoder) Int() int {
	v := d.Int64()
	if int64(int(v)) != v {
		d.Fail(fmt.Errorf("%d does not fit an int", v))
		return 0
	}
	return int(v)
}

// Int64 reads an integer (a number without fraction or exponent, as
// encoding/json reads into an int64).
func (d *Decoder) Int64() int64 {
	// The common case: up to 18 digits, no white space before.
	if b, i := d.s.B, d.s.I; d.err == nil && i < len(b) {
		j := i
		if b[j] == '-' {
			j++
		}
		start := j
		var v int64
		for j < len(b) && j-start < 18 && b[j] >= '0' && b[j] <= '9' {
			v = v*10 + int64(b[j]-'0')
			j++
		}
		if n := j - start; n > 0 && (n == 1 || b[start] != '0') && (j == len(b) || endsNumber(b[j])) {
			d.s.I = j
			if b[i] == '-' {
				return -v
			}
			return v
		}
	}
	if d.err != nil || d.s.Null() {
		return 0
	}
	v, err := d.s.Int64()
	d.check(err)
	return v
}

// endsNumber reports whether c may follow a number.
func endsNumber(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Uint64 reads a non-negative integer.
func (d *Decoder) Uint64() uint64 {
	if d.err != nil || d.s.Null() {
		return 0
	}
	v, err := d.s.Uint64()
	d.check(err)
	return v
}

// Float64 reads a number.
func (d *Decoder) Float64() float64 {
	// The common case: a decimal of up to 15 digits, without exponent,
	// no white space before. Its digits and the power of ten are exact in
	// a float64, so that one division rounds correctly, to what
	// strconv.ParseFloat returns.
	if b, i := d.s.B, d.s.I; d.err == nil && i < len(b) {
		j := i
		if b[j] == '-' {
			j++
		}
		start, dot := j, -1
		var m uint64
		for ; j < len(b) && j-start < 16; j++ {
			if c := b[j]; c >= '0' && c <= '9' {
				m = m*10 + uint64(c-'0')
			} else if c == '.' && dot < 0 && j > start {
				dot = j
			} else {
				break
			}
		}
		digits := j - start
		frac := 0
		if dot >= 0 {
			digits--
			frac = j - dot - 1
		}
		if digits > 0 && digits <= 15 && (dot < 0 || frac > 0) && (b[start] != '0' || start+1 == j || b[start+1] == '.') &&
			(j == len(b) || endsNumber(b[j])) {
			d.s.I = j
			f := float64(m) / pow10[frac]
			if b[i] == '-' {
				f = -f
			}
			return f
		}
	}
	if d.err != nil || d.s.Null() {
		return 0
	}
	v, err := d.s.Float64()
	d.check(err)
	return v
}

// Bool reads true or false.
func (d *Decoder) Bool() bool {
	if d.err != nil || d.s.Null() {
		return false
	}
	switch d.s.Peek() {
	case 't':
		return d.check(d.s.Literal("true"))
	case 'f':
		d.check(d.s.Literal("false"))
		return false
	}
	d.Fail(d.s.Fail("a boolean"))
	return false
}

// Time reads a time in RFC 3339, as time.Time's UnmarshalJSON does.
func (d *Decoder) Time() time.Time {
	if d.err != nil || d.s.Null() {
		return time.Time{}
	}
	raw, escaped, err := d.s.RawString()
	if !d.check(err) {
		return time.Time{}
	}
	if escaped {
		if d.key, err = jsonx.Unquote(d.key[:0], raw); !d.check(err) {
			return time.Time{}
		}
		raw = d.key
	}
	t, err := parseTime(raw)
	if err != nil {
		d.Fail(err)
		return time.Time{}
	}
	return t
}

// Raw reads any value and returns its JSON, as it is in the input (valid
// as long as the input is: see Event), not checked (see Skip).
func (d *Decoder) Raw() []byte {
	if d.err != nil {
		return nil
	}
	raw, err := d.s.PassRaw()
	d.check(err)
	return raw
}

// Skip reads any value and ignores it. It finds where the value ends
// without checking it: the host passes JSON (event data the store
// checked, documents the host checked), and the values that are read are
// checked as they are.
func (d *Decoder) Skip() {
	if d.err == nil {
		d.check(d.s.Pass())
	}
}

// Encoder writes JSON values. Its zero value is ready to use; Bytes
// returns what it wrote. Values inside objects follow a Key; the Encoder
// writes the commas. An error (a float that JSON cannot hold, a time out of
// RFC 3339's range) is kept: check Err once at the end.
type Encoder struct {
	buf   []byte
	comma bool // a value was written at this level: the next needs a comma
	err   error
}

// NewEncoder returns an Encoder appending to buf.
func NewEncoder(buf []byte) *Encoder { return &Encoder{buf: buf} }

// Bytes returns the JSON written.
func (e *Encoder) Bytes() []byte { return e.buf }

// Err returns the first error the Encoder met.
func (e *Encoder) Err() error { return e.err }

// Fail records err; the first error is kept.
func (e *Encoder) Fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *Encoder) value() {
	if e.comma {
		e.buf = append(e.buf, ',')
	}
	e.comma = true
}

// BeginObject starts an object.
func (e *Encoder) BeginObject() {
	e.value()
	e.buf = append(e.buf, '{')
	e.comma = false
}

// EndObject ends an object.
func (e *Encoder) EndObject() {
	e.buf = append(e.buf, '}')
	e.comma = true
}

// BeginArray starts an array.
func (e *Encoder) BeginArray() {
	e.value()
	e.buf = append(e.buf, '[')
	e.comma = false
}

// EndArray ends an array.
func (e *Encoder) EndArray() {
	e.buf = append(e.buf, ']')
	e.comma = true
}

// Key writes a member's key; its value follows.
func (e *Encoder) Key(key string) {
	e.value()
	e.buf = jsonx.AppendStringHTML(e.buf, key)
	e.buf = append(e.buf, ':')
	e.comma = false
}

// String writes a string, escaped as encoding/json escapes it.
func (e *Encoder) String(s string) {
	e.value()
	e.buf = jsonx.AppendStringHTML(e.buf, s)
}

// Int writes an integer.
func (e *Encoder) Int(v int) { e.Int64(int64(v)) }

// Int64 writes an integer.
func (e *Encoder) Int64(v int64) {
	e.value()
	e.buf = strconv.AppendInt(e.buf, v, 10)
}

// Uint64 writes a non-negative integer.
func (e *Encoder) Uint64(v uint64) {
	e.value()
	e.buf = strconv.AppendUint(e.buf, v, 10)
}

var errFloat = errors.New("a NaN or infinite float, which JSON cannot hold")

// Float64 writes a number as encoding/json writes a float64; NaN and
// infinities are an error (and written as 0).
func (e *Encoder) Float64(f float64) {
	e.value()
	var ok bool
	if e.buf, ok = jsonx.AppendFloat(e.buf, f); !ok {
		e.Fail(errFloat)
		e.buf = append(e.buf, '0')
	}
}

// Bool writes true or false.
func (e *Encoder) Bool(b bool) {
	e.value()
	e.buf = strconv.AppendBool(e.buf, b)
}

// Null writes null.
func (e *Encoder) Null() {
	e.value()
	e.buf = append(e.buf, "null"...)
}

// Time writes a time as time.Time's MarshalJSON does: RFC 3339 with
// nanoseconds, in its own offset.
func (e *Encoder) Time(t time.Time) {
	e.value()
	e.buf = append(e.buf, '"')
	if out, err := t.AppendText(e.buf); err != nil {
		e.Fail(err)
	} else {
		e.buf = out
	}
	e.buf = append(e.buf, '"')
}

// Raw writes JSON as it is; it must be one valid value (Raw does not check
// it).
func (e *Encoder) Raw(json []byte) {
	e.value()
	if len(json) == 0 {
		json = []byte("null")
	}
	e.buf = append(e.buf, json...)
}
