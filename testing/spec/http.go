package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/require"
)

// HTTPSpec is a spec for an HTTP handler over an event store: given the
// streams in the store, when a request is served, then its response and the
// events it appended are as stated. Build it with ForHTTP:
//
//	spec.ForHTTP(t, store, cartEvents, api).
//		Given("shopping_cart-1", ProductItemAdded{...}).
//		When(spec.Post("/carts/1/confirm", nil).IfMatch(`W/"1"`)).
//		ThenStatus(http.StatusNoContent).
//		ThenHeader("ETag", `W/"2"`).
//		ThenAppended("shopping_cart-1", ShoppingCartConfirmed{...})
//
// The handler is called directly, through an httptest.ResponseRecorder. A
// failure prints the given events, the request, the response and the new
// events, with testify's diff.
//
// E is the event family of the registry that encodes the given events and
// decodes the appended ones; GivenRaw and ThenNewEvents work with stored
// events of any type.
type HTTPSpec[E any] struct {
	t       testing.TB
	store   eventstore.Store
	events  *emmett.Events[E]
	handler http.Handler
	given   []string // descriptions, for failure messages
}

// ForHTTP starts a spec for handler, which works on store; events encodes
// and decodes the events the spec states. Use a new store for each spec.
func ForHTTP[E any](t testing.TB, store eventstore.Store, events *emmett.Events[E], handler http.Handler) *HTTPSpec[E] {
	return &HTTPSpec[E]{t: t, store: store, events: events, handler: handler}
}

// Given appends events to a stream before the request. Call it once per
// stream, or more times to append more.
func (s *HTTPSpec[E]) Given(stream string, events ...E) *HTTPSpec[E] {
	s.t.Helper()
	data, err := eventstore.Encode(s.events, events, emmett.Metadata{})
	require.NoError(s.t, err, "given: encoding the events of stream %q", stream)
	for _, e := range events {
		s.given = append(s.given, fmt.Sprintf("%s: %s", stream, Describe(e)))
	}
	return s.append(stream, data)
}

// GivenRaw appends stored events (of any type) to a stream before the
// request.
func (s *HTTPSpec[E]) GivenRaw(stream string, events ...eventstore.EventData) *HTTPSpec[E] {
	s.t.Helper()
	for _, e := range events {
		s.given = append(s.given, fmt.Sprintf("%s: %s %s", stream, e.Type, e.Data))
	}
	return s.append(stream, events)
}

func (s *HTTPSpec[E]) append(stream string, data []eventstore.EventData) *HTTPSpec[E] {
	s.t.Helper()
	if len(data) == 0 {
		return s
	}
	_, err := s.store.AppendToStream(context.Background(), stream, data)
	require.NoError(s.t, err, "given: appending to stream %q", stream)
	return s
}

// When serves the request; the Then methods of the result assert the
// outcome.
func (s *HTTPSpec[E]) When(req *Request) *HTTPWhen[E] {
	t := s.t
	t.Helper()
	require.NoError(t, req.err, "when: building the request")
	ctx := context.Background()
	before := s.head(ctx)

	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	httpReq := httptest.NewRequestWithContext(ctx, req.Method, req.Target, body)
	for k, vs := range req.Header {
		httpReq.Header[k] = slices.Clone(vs)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, httpReq)

	w := &HTTPWhen[E]{spec: s, req: req, resp: rec.Result()}
	w.body = rec.Body.Bytes()
	for e, err := range s.store.ReadAll(ctx, before) {
		require.NoError(t, err, "then: reading the events the request appended")
		w.appended = append(w.appended, e)
	}
	return w
}

// head returns the position of the last event in the store.
func (s *HTTPSpec[E]) head(ctx context.Context) eventstore.Position {
	s.t.Helper()
	var last eventstore.Position
	for e, err := range s.store.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(s.t, err, "when: reading the store")
		last = eventstore.PositionOf(e)
	}
	return last
}

// Request is an HTTP request of a spec. Build it with NewRequest, GET, POST,
// PUT, PATCH or DELETE, and add headers with its methods.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Target is the request target: a path and query.
	Target string
	// Header holds the request's headers.
	Header http.Header
	// Body is the request body; nil for none.
	Body []byte

	err error
}

// NewRequest returns a request. A body that is a string, a []byte or a
// json.RawMessage is sent as it is (malformed JSON included); any other
// non-nil value is encoded to JSON. A request with a body has the
// Content-Type application/json unless a header says otherwise.
func NewRequest(method, target string, body any) *Request {
	r := &Request{Method: method, Target: target, Header: http.Header{}}
	switch b := body.(type) {
	case nil:
	case string:
		r.Body = []byte(b)
	case []byte:
		r.Body = b
	case json.RawMessage:
		r.Body = b
	default:
		r.Body, r.err = json.Marshal(b)
	}
	if r.Body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// Get returns a GET request.
func Get(target string) *Request { return NewRequest(http.MethodGet, target, nil) }

// Post returns a POST request with a body (see NewRequest).
func Post(target string, body any) *Request { return NewRequest(http.MethodPost, target, body) }

// Put returns a PUT request with a body (see NewRequest).
func Put(target string, body any) *Request { return NewRequest(http.MethodPut, target, body) }

// Patch returns a PATCH request with a body (see NewRequest).
func Patch(target string, body any) *Request { return NewRequest(http.MethodPatch, target, body) }

// Delete returns a DELETE request.
func Delete(target string) *Request { return NewRequest(http.MethodDelete, target, nil) }

// WithHeader sets a header (replacing its values) and returns r. An empty
// value removes the header.
func (r *Request) WithHeader(key, value string) *Request {
	if value == "" {
		r.Header.Del(key)
	} else {
		r.Header.Set(key, value)
	}
	return r
}

// IfMatch sets the If-Match header: an entity tag such as W/"3".
func (r *Request) IfMatch(etag string) *Request { return r.WithHeader("If-Match", etag) }

// IfNoneMatch sets the If-None-Match header; "*" makes a request
// create-only.
func (r *Request) IfNoneMatch(value string) *Request { return r.WithHeader("If-None-Match", value) }

// String renders r for failure messages: the request line, the headers and
// the body.
func (r *Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Method, r.Target)
	for _, k := range sortedKeys(r.Header) {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "\n\t%s: %s", k, v)
		}
	}
	if r.Body != nil {
		fmt.Fprintf(&b, "\n\n\t%s", clip(r.Body))
	}
	return b.String()
}

// HTTPWhen is a spec whose request has been served; its Then methods assert
// the response and the events appended, and return it for more.
type HTTPWhen[E any] struct {
	spec     *HTTPSpec[E]
	req      *Request
	resp     *http.Response
	body     []byte
	appended []emmett.RecordedEvent
}

// Response returns the response, for checks the Then methods do not cover.
// Its body can be read again.
func (w *HTTPWhen[E]) Response() *http.Response {
	w.resp.Body = io.NopCloser(bytes.NewReader(w.body))
	return w.resp
}

// Body returns the response body.
func (w *HTTPWhen[E]) Body() []byte { return w.body }

// Appended returns every event the request appended, in the store's order.
func (w *HTTPWhen[E]) Appended() []emmett.RecordedEvent { return slices.Clone(w.appended) }

func (w *HTTPWhen[E]) t() testing.TB { return w.spec.t }

// scenario describes the spec for failure messages.
func (w *HTTPWhen[E]) scenario() string {
	var b strings.Builder
	b.WriteString("given:")
	if len(w.spec.given) == 0 {
		b.WriteString(" (no events)")
	}
	for _, g := range w.spec.given {
		fmt.Fprintf(&b, "\n\t%s", g)
	}
	fmt.Fprintf(&b, "\nwhen:\n\t%s", w.req)
	fmt.Fprintf(&b, "\nresponse:\n\t%s", w.resp.Status)
	for _, k := range sortedKeys(w.resp.Header) {
		for _, v := range w.resp.Header[k] {
			fmt.Fprintf(&b, "\n\t%s: %s", k, v)
		}
	}
	if len(w.body) > 0 {
		fmt.Fprintf(&b, "\n\n\t%s", clip(w.body))
	}
	b.WriteString("\nappended:")
	if len(w.appended) == 0 {
		b.WriteString(" (nothing)")
	}
	for _, e := range w.appended {
		fmt.Fprintf(&b, "\n\t%s@%d: %s %s", e.StreamName, e.StreamPosition, e.Type, clip(e.Data))
	}
	return b.String()
}

// ThenStatus asserts the response status code.
func (w *HTTPWhen[E]) ThenStatus(code int) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	require.Equal(t, code, w.resp.StatusCode, "unexpected status %s\n%s", w.resp.Status, w.scenario())
	return w
}

// ThenHeader asserts that the response has the header with exactly this
// value.
func (w *HTTPWhen[E]) ThenHeader(key, value string) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	values := w.resp.Header.Values(key)
	require.NotEmpty(t, values, "no %s header in the response\n%s", key, w.scenario())
	require.Equal(t, []string{value}, values, "unexpected %s header\n%s", key, w.scenario())
	return w
}

// ThenNoHeader asserts that the response has no such header.
func (w *HTTPWhen[E]) ThenNoHeader(key string) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	require.Empty(t, w.resp.Header.Values(key), "unexpected %s header\n%s", key, w.scenario())
	return w
}

// ThenJSON asserts that the response body is JSON equal to expected: a
// string, []byte or json.RawMessage holding JSON, or a value encoded to
// JSON. Key order and whitespace do not matter.
func (w *HTTPWhen[E]) ThenJSON(expected any) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	want, err := jsonText(expected)
	require.NoError(t, err, "encoding the expected body")
	require.JSONEq(t, want, string(w.body), "unexpected body\n%s", w.scenario())
	return w
}

// ThenJSONContains asserts that the response body is JSON that contains
// expected (given as for ThenJSON): every member of an expected object is in
// the actual object with a matching value, arrays have the same length and
// matching elements, other values are equal. Use it to leave out what a test
// cannot know, such as message ids and timestamps.
func (w *HTTPWhen[E]) ThenJSONContains(expected any) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	want, err := jsonText(expected)
	require.NoError(t, err, "encoding the expected body")
	var wantV, gotV any
	require.NoError(t, json.Unmarshal([]byte(want), &wantV), "the expected body is not JSON")
	require.NoError(t, json.Unmarshal(w.body, &gotV), "the response body is not JSON\n%s", w.scenario())
	if diffs := jsonContains("$", wantV, gotV); len(diffs) > 0 {
		require.Fail(t, "the body does not contain the expected JSON",
			"%s\nexpected (a subset of the body):\n\t%s\n%s", strings.Join(diffs, "\n"), want, w.scenario())
	}
	return w
}

// ThenBody hands the response body to check, for assertions the other forms
// do not cover.
func (w *HTTPWhen[E]) ThenBody(check func(t testing.TB, body []byte)) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	check(t, w.body)
	if t.Failed() {
		require.Fail(t, "spec failed", w.scenario())
	}
	return w
}

// ThenProblem asserts that the response is an RFC 9457 problem details
// document (application/problem+json) with this status, in the status line
// and in the document. Chain ThenJSONContains to check its other members.
func (w *HTTPWhen[E]) ThenProblem(status int) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	w.ThenStatus(status)
	ct := w.resp.Header.Get("Content-Type")
	require.True(t, strings.HasPrefix(ct, "application/problem+json"),
		"the Content-Type is %q, not application/problem+json\n%s", ct, w.scenario())
	var doc struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
	}
	require.NoError(t, json.Unmarshal(w.body, &doc), "the problem is not a JSON object\n%s", w.scenario())
	require.Equal(t, status, doc.Status, "the problem's status member\n%s", w.scenario())
	require.NotEmpty(t, doc.Title, "the problem has no title\n%s", w.scenario())
	return w
}

// ThenAppended asserts that the request appended exactly these events to
// the stream, in order (events it appended to other streams are not
// checked). The stored events are decoded with the spec's registry.
func (w *HTTPWhen[E]) ThenAppended(stream string, expected ...E) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	actual := []E{}
	for _, e := range w.appended {
		if e.StreamName != stream {
			continue
		}
		ev, err := w.spec.events.DecodeVersion(e.Type, e.SchemaVersion, e.Data)
		require.NoError(t, err, "decoding appended event %s@%d\n%s", e.StreamName, e.StreamPosition, w.scenario())
		actual = append(actual, ev)
	}
	if expected == nil {
		expected = []E{}
	}
	require.Equal(t, expected, actual, "unexpected events appended to %q\n%s", stream, w.scenario())
	return w
}

// ThenNothingAppended asserts that the request appended no event to any
// stream.
func (w *HTTPWhen[E]) ThenNothingAppended() *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	require.Empty(t, w.appended, "expected no new events\n%s", w.scenario())
	return w
}

// ThenNewEvents hands every event the request appended, in the store's
// order, to check: for metadata, raw data, or events of other families.
func (w *HTTPWhen[E]) ThenNewEvents(check func(t testing.TB, events []emmett.RecordedEvent)) *HTTPWhen[E] {
	t := w.t()
	t.Helper()
	check(t, w.Appended())
	if t.Failed() {
		require.Fail(t, "spec failed", w.scenario())
	}
	return w
}

// jsonText returns expected as JSON text.
func jsonText(expected any) (string, error) {
	switch v := expected.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case json.RawMessage:
		return string(v), nil
	}
	data, err := json.Marshal(expected)
	return string(data), err
}

// jsonContains lists where got does not contain want.
func jsonContains(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", path, compact(got))}
		}
		var diffs []string
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing, want %s", path, k, compact(w[k])))
				continue
			}
			diffs = append(diffs, jsonContains(path+"."+k, w[k], gv)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %s", path, compact(got))}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d elements, got %d: %s", path, len(w), len(g), compact(got))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, jsonContains(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return diffs
	}
	if want != got {
		return []string{fmt.Sprintf("%s: want %s, got %s", path, compact(want), compact(got))}
	}
	return nil
}

func compact(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(clip(data))
}

// clip shortens long bodies in failure messages.
func clip(b []byte) []byte {
	const max = 2048
	if len(b) <= max {
		return b
	}
	return append(b[:max:max], "…"...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
