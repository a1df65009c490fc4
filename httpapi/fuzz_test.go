package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/httpapi"
)

// The seed corpora are in testdata/fuzz; run a fuzzer with, for example,
//
//	go test ./httpapi -run '^$' -fuzz FuzzParseIfMatch -fuzztime 30s

// FuzzParseIfMatch checks that the If-Match parser never panics, refuses
// with an *InputError (a 400), and reads back every ETag it accepts as the
// same version.
func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{`W/"0"`, `W/"42"`, `"42"`, `*`, ` W/"7" `, `W/"1", W/"2"`, `W/"9223372036854775807"`,
		`W/"9223372036854775808"`, `W/""`, `W/"-1"`, `W/"+1"`, `w/"1"`, `W/'1'`, `"a,b"`, `W/"1`, `1`, ``, `,`, `W/"1",`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		ev, err := httpapi.ParseIfMatch(value)
		if err != nil {
			var input *httpapi.InputError
			if !errors.As(err, &input) || !errors.Is(err, emmett.ErrValidation) {
				t.Fatalf("ParseIfMatch(%q): error %v is not an *InputError", value, err)
			}
			return
		}
		if ev.IsStreamExists() {
			if strings.TrimSpace(value) != "*" {
				t.Fatalf("ParseIfMatch(%q) = stream exists", value)
			}
			return
		}
		v, exact := ev.Exact()
		if !exact || v < 0 {
			t.Fatalf("ParseIfMatch(%q) = %v, want an exact non-negative version", value, ev)
		}
		back, err := httpapi.ParseETag(httpapi.ETag(v))
		if err != nil || back != v {
			t.Fatalf("ParseETag(ETag(%d)) = %d, %v", v, back, err)
		}
		if !strings.Contains(value, `"`) {
			t.Fatalf("ParseIfMatch(%q) accepted a value with no entity tag", value)
		}
	})
}

// FuzzPrecondition checks the precondition headers together: never a
// panic, and every refusal is answered 400.
func FuzzPrecondition(f *testing.F) {
	f.Add(`W/"3"`, "")
	f.Add("", "*")
	f.Add(`W/"3"`, "*")
	f.Add("", `W/"3"`)
	f.Add("*", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, ifMatch, ifNoneMatch string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if ifMatch != "" {
			r.Header["If-Match"] = []string{ifMatch}
		}
		if ifNoneMatch != "" {
			r.Header["If-None-Match"] = []string{ifNoneMatch}
		}
		ev, err := httpapi.Precondition(r)
		if err != nil {
			if p := (*httpapi.Problems)(nil).Problem(r, err); p.Status != http.StatusBadRequest {
				t.Fatalf("Precondition(%q, %q): %v answered %d", ifMatch, ifNoneMatch, err, p.Status)
			}
			return
		}
		if ifMatch == "" && ifNoneMatch == "" && !ev.IsAny() {
			t.Fatalf("no header gave %v", ev)
		}
		if ifNoneMatch != "" && !ev.IsNoStream() {
			t.Fatalf("If-None-Match %q gave %v", ifNoneMatch, ev)
		}
	})
}

// fuzzBody is a request body with the usual shapes: strings, numbers,
// booleans, nested objects and arrays, optional fields.
type fuzzBody struct {
	ProductID string            `json:"productId"`
	Quantity  int               `json:"quantity"`
	UnitPrice float64           `json:"unitPrice"`
	Gift      *bool             `json:"gift,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Address   *fuzzAddress      `json:"address,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
	Raw       json.RawMessage   `json:"raw,omitempty"`
}

type fuzzAddress struct {
	Street string `json:"street"`
	Zip    uint16 `json:"zip"`
}

// FuzzDecodeJSON checks the strict decoder: it never panics, every error is
// answered 400 or 413 (never 500), and what it accepts is exactly one valid
// JSON value that decodes the same again.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"productId":"shoes","quantity":2,"unitPrice":100}`,
		`{"productId":"shoes","quantity":2,"unitPrice":1.5,"gift":true,"tags":["a","b"],"address":{"street":"x","zip":1234},"extra":{"k":"v"},"raw":[1,{"a":null}]}`,
		`{"productId":"shoes"} {}`, `{"productId":"shoes"}]`, `{"productId":"shoes","colour":"red"}`, `{"address":{"city":"x"}}`,
		`{"quantity":"2"}`, `{"quantity":2.5}`, `{"address":{"zip":-1}}`, `{"quantity":1e400}`, `[]`, `null`, `"x"`, ``, ` `,
		`{`, `{"productId":"\ud800"}`, "{\"productId\":\"\xff\"}", `{"productId":"a","productId":"b"}`, `{"PRODUCTID":"a"}`,
		"\ufeff{}", `{} `, "{}\n\n", `{"raw":}`, `{"extra":{"k":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(data))
		r.Header.Set("Content-Type", "application/json")
		var got fuzzBody
		err := httpapi.DecodeJSON(r, &got)
		if err != nil {
			status := (*httpapi.Problems)(nil).Problem(r, err).Status
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("DecodeJSON(%q): %v answered %d", data, err, status)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeJSON accepted invalid JSON %q", data)
		}
		// One value, then only whitespace.
		dec := json.NewDecoder(bytes.NewReader(data))
		var first json.RawMessage
		if err := dec.Decode(&first); err != nil {
			t.Fatalf("DecodeJSON accepted %q, which json.Decoder refuses: %v", data, err)
		}
		if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
			t.Fatalf("DecodeJSON accepted trailing data %q", rest)
		}
		// What was decoded decodes the same after a round trip.
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("encoding %#v: %v", got, err)
		}
		var back fuzzBody
		r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(again))
		if err := httpapi.DecodeJSON(r, &back); err != nil {
			t.Fatalf("DecodeJSON(%s) (re-encoded from %q): %v", again, data, err)
		}
		if !reflect.DeepEqual(normalize(t, got), normalize(t, back)) {
			t.Fatalf("round trip of %q: %#v != %#v", data, got, back)
		}
	})
}

// normalize undoes what a round trip changes without changing the meaning:
// the raw member's whitespace, empty slices and maps left out by omitempty.
func normalize(t *testing.T, b fuzzBody) fuzzBody {
	if len(b.Tags) == 0 {
		b.Tags = nil
	}
	if len(b.Extra) == 0 {
		b.Extra = nil
	}
	if b.Raw != nil {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b.Raw); err != nil {
			t.Fatalf("compacting %q: %v", b.Raw, err)
		}
		b.Raw = buf.Bytes()
	}
	return b
}
