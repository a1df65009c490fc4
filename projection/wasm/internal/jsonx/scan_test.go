package jsonx

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var samples = []string{
	`null`, `true`, `false`, `0`, `-0`, `1.5e-3`, `-12.25E+10`, `123456789012345678901234567890`,
	`""`, `"plain"`, `"quote\" back\\ slash\/ \b\f\n\r\t"`, `"\u00e9\u65e5\ud83d\ude00 lone \ud800 x"`, `"é 日本 😀"`,
	"\"bad \xff utf8\"", `"a longer string, over eight bytes, to go through the fast path \" of eight at a time"`,
	`{}`, `[]`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, ` [ 1 , { "x" : [ ] } , "y" ] `,
	`{"type":"ProductItemAddedToShoppingCart","data":{"p":{"q":[1,2,{"r":"\"}"}]}},"n":-1}`,
	// Not JSON:
	``, `nul`, `tru`, `01`, `1.`, `.5`, `1e`, `-`, `+1`, `"unterminated`, `"ctl` + "\x01" + `"`, `"bad \x"`, `"\u12"`,
	`{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{1:2}`, `{"a":1`, `[`, `]`, `}`, `{"a":1]`, `[1}`,
}

// The scanner accepts what encoding/json accepts, and reads the strings
// it does the same way.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range samples {
		s := &Scanner{B: []byte(in)}
		err := s.Skip()
		if err == nil {
			err = s.End()
		}
		assert.Equal(t, json.Valid([]byte(in)), err == nil, "%q: %v", in, err)
		if !json.Valid([]byte(in)) {
			continue
		}
		// Pass ends where Skip does.
		p := &Scanner{B: []byte(in)}
		require.NoError(t, p.Pass(), in)
		q := &Scanner{B: []byte(in)}
		require.NoError(t, q.Skip())
		assert.Equal(t, q.I, p.I, in)

		var want string
		if json.Unmarshal([]byte(in), &want) == nil && !bytes.Equal(bytes.TrimSpace([]byte(in)), []byte("null")) {
			got, err := (&Scanner{B: []byte(in)}).String()
			require.NoError(t, err, in)
			assert.Equal(t, want, got, in)
			appended, err := (&Scanner{B: []byte(in)}).AppendString([]byte("x"))
			require.NoError(t, err, in)
			assert.Equal(t, "x"+want, string(appended), in)
		}
	}
}

func FuzzScanner(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Scanner{B: in}
		err := s.Skip()
		if err == nil {
			err = s.End()
		}
		if valid := json.Valid(in); valid != (err == nil) {
			t.Fatalf("%q: json.Valid %v, Skip: %v", in, valid, err)
		}
		if err != nil {
			_ = (&Scanner{B: in}).Pass() // never panics
			return
		}
		p := &Scanner{B: in}
		if err := p.Pass(); err != nil || p.End() != nil {
			t.Fatalf("%q: Pass: %v, at %d", in, err, p.I)
		}
		var want string
		if json.Unmarshal(in, &want) == nil && !bytes.Equal(bytes.TrimSpace(in), []byte("null")) {
			got, err := (&Scanner{B: in}).String()
			if err != nil || got != want {
				t.Fatalf("%q: String %q, %v; encoding/json %q", in, got, err, want)
			}
		}
	})
}

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		in   string
		i    int64
		iok  bool
		u    uint64
		uok  bool
		f    float64
		fail bool
	}{
		{in: `0`, iok: true, uok: true},
		{in: `-7`, i: -7, iok: true, f: -7},
		{in: `9223372036854775807`, i: math.MaxInt64, iok: true, u: math.MaxInt64, uok: true, f: math.MaxInt64},
		{in: `-9223372036854775808`, i: math.MinInt64, iok: true, f: math.MinInt64},
		{in: `9223372036854775808`, u: 1 << 63, uok: true, f: 1 << 63},
		{in: `18446744073709551615`, u: math.MaxUint64, uok: true, f: math.MaxUint64},
		{in: `18446744073709551616`, f: 18446744073709551616},
		{in: `1.5`, f: 1.5},
		{in: `1e3`, f: 1000},
		{in: `1e400`, fail: true},
	} {
		i, err := (&Scanner{B: []byte(c.in)}).Int64()
		assert.Equal(t, c.iok, err == nil, c.in)
		assert.Equal(t, c.i, i, c.in)
		u, err := (&Scanner{B: []byte(c.in)}).Uint64()
		assert.Equal(t, c.uok, err == nil, c.in)
		assert.Equal(t, c.u, u, c.in)
		f, err := (&Scanner{B: []byte(c.in)}).Float64()
		assert.Equal(t, c.fail, err != nil, c.in)
		if !c.fail {
			want, _ := strconv.ParseFloat(c.in, 64)
			assert.Equal(t, want, f, c.in)
		}
	}
}

// AppendStringHTML and AppendFloat write what encoding/json writes.
func TestEncodingAgreesWithEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "<a href='x'>&amp;</a>", "quote\" back\\ \b\f\n\r\t \x00\x1f\x7f", "é 日本 😀", "bad \xff\xfe utf8",
		"line\u2028para\u2029", "a longer plain string, well over eight bytes"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(AppendStringHTML(nil, s)), "%q", s)
		var back string
		require.NoError(t, json.Unmarshal(AppendString(nil, s), &back), "%q", s)
		var wantBack string
		require.NoError(t, json.Unmarshal(want, &wantBack))
		assert.Equal(t, wantBack, back, "%q", s)
	}

	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 9.99, 17.5, 3.33, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324}
	for range 20000 {
		switch rng.IntN(3) {
		case 0:
			floats = append(floats, math.Float64frombits(rng.Uint64()))
		case 1:
			floats = append(floats, float64(rng.IntN(1_000_000))/100)
		default:
			floats = append(floats, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)))
		}
	}
	for _, f := range floats {
		got, ok := AppendFloat(nil, f)
		want, err := json.Marshal(f)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			assert.False(t, ok)
			assert.Error(t, err)
			continue
		}
		require.True(t, ok)
		assert.Equal(t, string(want), string(got), "%v", f)
	}
}

func TestUnquoteNeverReadsPastTheEnd(t *testing.T) {
	for _, raw := range []string{`\`, `\u`, `\u12`, `\ud83d\u`, `\ud83d\`} {
		_, err := Unquote(nil, []byte(raw))
		assert.Error(t, err, raw)
	}
	out, err := Unquote(nil, []byte(`\ud83d`))
	require.NoError(t, err)
	assert.True(t, bytes.Equal([]byte("\uFFFD"), out))
}
