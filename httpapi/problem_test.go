package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestETag(t *testing.T) {
	assert.Equal(t, `W/"0"`, httpapi.ETag(0))
	assert.Equal(t, `W/"42"`, httpapi.ETag(42))
	for tag, want := range map[string]int64{`W/"42"`: 42, `"42"`: 42, ` W/"0"`: 0, `W/"9223372036854775807"`: 1<<63 - 1, `"007"`: 7} {
		v, err := httpapi.ParseETag(tag)
		require.NoError(t, err, tag)
		assert.Equal(t, want, v, tag)
	}
	for _, tag := range []string{``, `42`, `W/42`, `W/""`, `W/"-1"`, `W/"+1"`, `W/"1.0"`, `w/"1"`, `W/"1`, `"1" "2"`, `W/"9223372036854775808"`} {
		_, err := httpapi.ParseETag(tag)
		require.Error(t, err, tag)
		assert.ErrorIs(t, err, emmett.ErrValidation, tag)
	}
}

func TestExpectedVersion(t *testing.T) {
	req := func(headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for i := 0; i < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		headers []string
		want    eventstore.ExpectedVersion
	}{
		{nil, eventstore.ExpectAny()},
		{[]string{"If-Match", `W/"3"`}, eventstore.ExpectVersion(3)},
		{[]string{"If-Match", `"3"`}, eventstore.ExpectVersion(3)},
		{[]string{"If-Match", `W/"0"`}, eventstore.ExpectVersion(0)},
		{[]string{"If-Match", `*`}, eventstore.ExpectStreamExists()},
		{[]string{"If-None-Match", `*`}, eventstore.ExpectNoStream()},
	} {
		got, err := httpapi.Precondition(req(tc.headers...))
		require.NoError(t, err, tc.headers)
		assert.Equal(t, tc.want, got, tc.headers)
	}
	for _, headers := range [][]string{
		{"If-Match", `W/"3"`, "If-Match", `W/"4"`},
		{"If-Match", `W/"3"`, "If-None-Match", `*`},
		{"If-None-Match", `W/"3"`},
		{"If-Match", `W/"x"`},
	} {
		_, err := httpapi.Precondition(req(headers...))
		var input *httpapi.InputError
		require.ErrorAs(t, err, &input, headers)
		assert.Equal(t, httpapi.InHeader, input.In)
	}
}

func TestProblemJSON(t *testing.T) {
	p := &httpapi.Problem{
		Type: "https://example.com/probs/out-of-credit", Title: "You do not have enough credit.", Status: 403,
		Detail: "Your current balance is 30, but that costs 50.", Instance: "/account/12345/msgs/abc",
		Extensions: map[string]any{"balance": 30, "accounts": []string{"/account/12345"}, "status": "ignored"},
	}
	data, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Equal(t, `{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":403,`+
		`"detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc",`+
		`"accounts":["/account/12345"],"balance":30}`, string(data), "standard members first, extensions sorted, no overriding")

	var back httpapi.Problem
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, httpapi.Problem{
		Type: p.Type, Title: p.Title, Status: 403, Detail: p.Detail, Instance: p.Instance,
		Extensions: map[string]any{"balance": 30.0, "accounts": []any{"/account/12345"}},
	}, back)

	require.NoError(t, json.Unmarshal([]byte(`{"status":"403","title":7,"x":1}`), &back))
	assert.Equal(t, httpapi.Problem{Extensions: map[string]any{"x": 1.0}}, back, "members of the wrong type are ignored")

	data, err = json.Marshal(&httpapi.Problem{Status: 404})
	require.NoError(t, err)
	assert.Equal(t, `{"status":404}`, string(data))
	assert.Equal(t, "404 Not Found", (&httpapi.Problem{Status: 404}).Error())
	assert.Equal(t, "409 Taken: name in use", (&httpapi.Problem{Status: 409, Title: "Taken", Detail: "name in use"}).Error())
}

func TestWriteProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("ETag", `W/"1"`)
	httpapi.WriteProblem(rec, &httpapi.Problem{Status: 409, Title: "Conflict", Extensions: map[string]any{"bad": func() {}}})
	assert.Equal(t, 409, rec.Code)
	assert.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"))
	assert.Empty(t, rec.Header().Get("ETag"), "an error response carries no entity tag")
	assert.JSONEq(t, `{"title":"Conflict","status":409}`, rec.Body.String(), "an extension that does not encode is dropped")
}

func TestProblemsMapping(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/carts/1?x=1", nil)
	r.Header.Set("If-Match", `W/"1"`) // a conflict is the failure of this precondition
	for _, tc := range []struct {
		err    error
		status int
		detail string
	}{
		{&httpapi.Problem{Status: 409, Detail: "mine"}, 409, "mine"},
		{fmt.Errorf("wrapped: %w", &httpapi.Problem{Status: 418}), 418, ""},
		{&http.MaxBytesError{Limit: 10}, 413, "the request body is larger than the limit of 10 bytes"},
		{httpapi.ErrUnauthorized, 401, "the request needs valid credentials"},
		{httpapi.ErrForbidden, 403, "not allowed"},
		{fmt.Errorf("%w: text/plain", httpapi.ErrUnsupportedMediaType), 415, "the request body must be JSON (Content-Type: application/json)"},
		{&httpapi.InputError{In: httpapi.InQuery, Name: "limit", Value: "x", Reason: "not a number"}, 400, `query parameter "limit": not a number`},
		{fmt.Errorf("%w: quantity must be positive", emmett.ErrValidation), 400, "validation failed: quantity must be positive"},
		{fmt.Errorf("%w: cart is closed", emmett.ErrIllegalState), 403, "illegal state: cart is closed"},
		{fmt.Errorf("%w: cart 7", emmett.ErrNotFound), 404, "not found: cart 7"},
		{eventstore.ErrStreamNotFound, 404, "stream not found"},
		{&eventstore.VersionConflictError{Stream: "s", Expected: eventstore.ExpectVersion(1), Actual: 2}, 412, "the stream is at version 2, the request expected 1"},
		{&eventstore.InvalidStreamNameError{Name: "", Reason: "empty"}, 400, `invalid stream name "": empty`},
		{&eventstore.InvalidEventError{Index: 0, Type: "X", Reason: "too big", Err: eventstore.ErrEventTooLarge}, 413, `invalid event 0 (type "X"): too big`},
		{eventstore.ErrNoEvents, 400, "no events to append"},
		{projection.ValidateDocumentID("nul\x00x"), 400, `invalid document "nul\x00x": id contains a NUL character`},
		{projection.Eq("clientId", "bad\xffx").Err(), 400, `invalid condition: Eq "clientId": value not valid UTF-8`},
		{eventstore.ErrClosed, 503, "the service is unavailable; try again later"},
		{fmt.Errorf("postgres: reading all events: dial error (%w)", eventstore.ErrUnavailable), 503, "the service is unavailable; try again later"},
		{context.DeadlineExceeded, 503, "the service is unavailable; try again later"},
		{&aggregate.LoadError{Stream: "s", Position: 3, Err: &emmett.UnknownEventTypeError{Type: "X"}}, 500, "the server failed to handle the request"},
		{errors.New("boom"), 500, "the server failed to handle the request"},
	} {
		p := (*httpapi.Problems)(nil).Problem(r, tc.err)
		assert.Equal(t, tc.status, p.Status, "%v", tc.err)
		assert.Equal(t, tc.detail, p.Detail, "%v", tc.err)
		assert.Equal(t, "about:blank", p.Type)
		assert.Equal(t, http.StatusText(tc.status), p.Title)
		assert.Equal(t, "/carts/1", p.Instance)
		_, hasID := p.Extensions["errorId"]
		assert.Equal(t, tc.status >= 500, hasID, "only server errors get an errorId: %v", tc.err)
	}
}

func TestProblemsMappingOfConflicts(t *testing.T) {
	conflict := fmt.Errorf("command: %w", &eventstore.VersionConflictError{Stream: "s", Expected: eventstore.ExpectVersion(1), Actual: 2})
	for _, tc := range []struct {
		name   string
		header string
		status int
	}{
		{"IfMatch", "If-Match", http.StatusPreconditionFailed},
		{"IfNoneMatch", "If-None-Match", http.StatusPreconditionFailed},
		{"NoPrecondition", "", http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/carts/1", nil)
			if tc.header != "" {
				r.Header.Set(tc.header, "*")
			}
			p := (*httpapi.Problems)(nil).Problem(r, conflict)
			assert.Equal(t, tc.status, p.Status)
			assert.Equal(t, http.StatusText(tc.status), p.Title)
			if tc.status == http.StatusConflict {
				assert.Equal(t, "the stream was changed by other requests while this one was handled; it may succeed if sent again", p.Detail)
				assert.Empty(t, p.Extensions, "the versions are the handler's, not the client's")
			} else {
				assert.Equal(t, map[string]any{"expectedVersion": int64(1), "actualVersion": int64(2)}, p.Extensions)
			}
		})
	}
	assert.Equal(t, http.StatusPreconditionFailed, (*httpapi.Problems)(nil).Problem(nil, conflict).Status, "without a request, as before")
}

// errRateLimited is an application error with data for its problem.
type errRateLimited struct{ RetryIn int }

func (e *errRateLimited) Error() string { return "rate limited" }

func TestProblemsMappers(t *testing.T) {
	ps := &httpapi.Problems{Mappers: []httpapi.ErrorMapper{
		httpapi.MapErrorAs(func(e *errRateLimited) *httpapi.Problem {
			return &httpapi.Problem{Status: http.StatusTooManyRequests, Type: "https://example.com/rate-limited",
				Extensions: map[string]any{"retryIn": e.RetryIn}}
		}),
		httpapi.MapError(emmett.ErrIllegalState, http.StatusConflict),
	}}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	p := ps.Problem(r, fmt.Errorf("calling: %w", &errRateLimited{RetryIn: 3}))
	assert.Equal(t, &httpapi.Problem{Type: "https://example.com/rate-limited", Title: "Too Many Requests", Status: 429,
		Instance: "/", Extensions: map[string]any{"retryIn": 3}}, p)
	p = ps.Problem(r, fmt.Errorf("%w: taken", emmett.ErrIllegalState))
	assert.Equal(t, 409, p.Status, "a mapper overrides the built-in mapping")
	assert.Equal(t, "illegal state: taken", p.Detail)
	assert.Equal(t, 404, ps.Problem(r, emmett.ErrNotFound).Status, "the built-in mapping remains")
}

func TestProblemsLogging(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/carts/1", nil)
	t.Run("DefaultLogsServerErrorsOnly", func(t *testing.T) {
		var buf bytes.Buffer
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
		defer slog.SetDefault(prev)
		var ps *httpapi.Problems
		ps.WriteError(httptest.NewRecorder(), r, emmett.ErrNotFound)
		assert.Empty(t, buf.String(), "nothing below warn by default, even with a debug default logger")
		ps.WriteError(httptest.NewRecorder(), r, errors.New("disk full"))
		assert.Contains(t, buf.String(), "level=ERROR")
		assert.Contains(t, buf.String(), "disk full")
		assert.Contains(t, buf.String(), "path=/carts/1")
	})
	t.Run("Logger", func(t *testing.T) {
		var buf bytes.Buffer
		ps := &httpapi.Problems{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		ps.WriteError(httptest.NewRecorder(), r, emmett.ErrNotFound)
		assert.Contains(t, buf.String(), "level=DEBUG")
		assert.Contains(t, buf.String(), "status=404")
		buf.Reset()
		ps.WriteError(httptest.NewRecorder(), r, context.Canceled)
		assert.Contains(t, buf.String(), "level=DEBUG", "a client that went away is no server error")
	})
}
