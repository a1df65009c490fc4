package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
)

// DefaultMaxBodyBytes is the default limit on the size of a request body:
// 1 MiB.
const DefaultMaxBodyBytes int64 = 1 << 20

// limitedBody marks a request body already limited by this package, so that
// DecodeJSON keeps that limit instead of imposing the default.
type limitedBody struct{ io.ReadCloser }

// limit limits r's body to n bytes (DefaultMaxBodyBytes when n <= 0). A
// request whose Content-Length is over the limit is refused at once: limit
// returns an *http.MaxBytesError, for the caller to answer 413, and leaves
// r.Body unread and untouched. The server sends "100 Continue" to a client
// that asked for it only when the body is first read, so such a client is
// told 413 instead of being asked for a body that would be cut off
// (the connection reset mid-body).
func limit(w http.ResponseWriter, r *http.Request, n int64) error {
	if n <= 0 {
		n = DefaultMaxBodyBytes
	}
	if r.ContentLength > n {
		return &http.MaxBytesError{Limit: n}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	r.Body = &limitedBody{http.MaxBytesReader(w, r.Body, n)}
	return nil
}

// LimitBody returns a handler that limits the body of each request to n bytes
// (DefaultMaxBodyBytes when n <= 0) before calling h. A request whose
// Content-Length is over the limit is answered 413 Content Too Large, as
// problem details, without reading its body and without calling h (a
// client that sent "Expect: 100-continue" is not asked for the body).
// Reading past the limit a body of unknown length (chunked) fails with an
// *http.MaxBytesError, which Problems answers 413, and the server closes
// the connection after the response.
//
// DecodeJSON keeps the limit set here; the handlers of this package set
// their own (see WithMaxBodyBytes).
func LimitBody(n int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := limit(w, r, n); err != nil {
			(*Problems)(nil).WriteError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// DecodeJSON decodes the body of r, a single JSON value, into dst, strictly:
//
//   - a Content-Type other than application/json (or another +json type)
//     fails with ErrUnsupportedMediaType; a missing one is accepted;
//   - a body larger than its limit fails with an *http.MaxBytesError: the
//     limit set by LimitBody or by the handler of this package calling the
//     decoder, else DefaultMaxBodyBytes; a Content-Length over the limit
//     fails before the body is read;
//   - an empty body, malformed JSON, a value of the wrong type, an object
//     member that dst does not have, or anything but whitespace after the
//     value fails with an *InputError.
//
// These errors are answered 415, 413 and 400 by Problems. dst must be a
// non-nil pointer.
func DecodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return fmt.Errorf("%w: %q", ErrUnsupportedMediaType, ct)
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	if _, ok := body.(*limitedBody); !ok {
		if r.ContentLength > DefaultMaxBodyBytes {
			return &http.MaxBytesError{Limit: DefaultMaxBodyBytes} // unread, see limit
		}
		body = http.MaxBytesReader(nil, body, DefaultMaxBodyBytes)
	}
	return decodeJSON(body, dst)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// decodeJSON decodes one JSON value from body into dst, refusing unknown
// fields and trailing data.
func decodeJSON(body io.Reader, dst any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return &InputError{In: InBody, Reason: "the request body is empty; want JSON"}
		}
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if rerr := readError(err); rerr != nil {
			return rerr
		}
		return &InputError{In: InBody, Reason: "unexpected data after the JSON value", Err: err}
	}
	return nil
}

// readError returns the error to answer for a failed read of the body
// that is not the JSON's fault: over the limit (413), or past the server's
// read deadline (408, see WithRequestTimeout). It returns nil for others.
func readError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &Problem{Status: http.StatusRequestTimeout, Detail: "the request body did not arrive in time"}
	}
	return nil
}

// bodyError classifies an error of json.Decoder.Decode.
func bodyError(err error) error {
	if rerr := readError(err); rerr != nil {
		return rerr
	}
	if _, ok := errors.AsType[*json.InvalidUnmarshalError](err); ok {
		return err // a programming error: a 500
	}
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &InputError{In: InBody, Reason: fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, strings.TrimPrefix(e.Error(), "json: ")), Err: err}
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return &InputError{In: InBody, Name: e.Field, Reason: fmt.Sprintf("got a JSON %s, want %s", e.Value, jsonKind(e.Type)), Err: err}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &InputError{In: InBody, Reason: "the JSON is truncated", Err: err}
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(field); uerr == nil {
			field = name
		}
		return &InputError{In: InBody, Name: field, Reason: "unknown field", Err: err}
	}
	return &InputError{In: InBody, Reason: strings.TrimPrefix(err.Error(), "json: "), Err: err}
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// WriteJSON writes v as the JSON response body with the given status. When v
// does not encode, nothing is written and the error is returned.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}
