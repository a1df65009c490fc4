package spec_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counterAPI serves the counter decider: POST /counters/{id} with {"by": n}.
func counterAPI(store eventstore.Store) http.Handler {
	counters := command.NewDeciderHandler(store, counter, counterEvents)
	mux := http.NewServeMux()
	mux.Handle("POST /counters/{id}", httpapi.Command(counters, func(r *http.Request) (httpapi.CommandRequest[Increment], error) {
		var body struct {
			By int `json:"by"`
		}
		if err := httpapi.DecodeJSON(r, &body); err != nil {
			return httpapi.CommandRequest[Increment]{}, err
		}
		return httpapi.CommandRequest[Increment]{
			Stream:  "counter-" + r.PathValue("id"),
			Command: Increment{By: body.By},
			Options: []eventstore.AppendOption{eventstore.WithMetadata(emmett.Metadata{CorrelationID: r.Header.Get("X-Request-ID")})},
		}, nil
	}))
	return mux
}

func counterSpec(t testing.TB) *spec.HTTPSpec[Event] {
	store := memory.New()
	return spec.ForHTTP(t, store, counterEvents, counterAPI(store))
}

func TestHTTPSpecPasses(t *testing.T) {
	counterSpec(t).
		Given("counter-1", Incremented{By: 2}).
		Given("counter-2", Incremented{By: 1}).
		When(spec.Post("/counters/1", map[string]int{"by": 9}).IfMatch(`W/"1"`).WithHeader("X-Request-ID", "req-1")).
		ThenStatus(http.StatusOK).
		ThenHeader("ETag", `W/"3"`).
		ThenNoHeader("Location").
		ThenJSON(`{"position": "4", "nextExpectedVersion": 3}`).
		ThenJSON(map[string]any{"nextExpectedVersion": 3, "position": "4"}).
		ThenJSONContains(`{"nextExpectedVersion": 3}`).
		ThenBody(func(t testing.TB, body []byte) { assert.Contains(t, string(body), "nextExpectedVersion") }).
		ThenAppended("counter-1", Incremented{By: 9}, Capped{}).
		ThenAppended("counter-2").
		ThenNewEvents(func(t testing.TB, events []emmett.RecordedEvent) {
			require.Len(t, events, 2)
			assert.Equal(t, "req-1", events[0].Metadata.CorrelationID)
		})

	w := counterSpec(t).
		GivenRaw("counter-1", eventstore.EventData{Type: "Incremented", Data: []byte(`{"By":5}`)}).
		When(spec.Post("/counters/1", `{"by":`)).
		ThenProblem(http.StatusBadRequest).
		ThenJSONContains(map[string]any{"in": "body"}).
		ThenNothingAppended()
	assert.Equal(t, http.StatusBadRequest, w.Response().StatusCode)
	assert.Contains(t, string(w.Body()), "truncated")
	assert.Empty(t, w.Appended())

	counterSpec(t).
		When(spec.Post("/counters/1", map[string]int{"by": 1}).IfNoneMatch("*")).
		ThenStatus(http.StatusCreated).
		ThenAppended("counter-1", Incremented{By: 1})
}

func TestHTTPSpecFailures(t *testing.T) {
	scenario := func(t *testing.T, out string) {
		t.Helper()
		assert.Regexp(t, `given:\s+counter-1: spec_test.Incremented\{By:2\}`, out, "prints the given events")
		assert.Regexp(t, `when:\s+POST /counters/1\s+Content-Type: application/json\s+If-Match: W/"1"\s+\{"by":3\}`, out, "prints the request")
		assert.Regexp(t, `response:\s+200 OK\s+Content-Length: 41\s+Content-Type: application/json\s+Etag: W/"2"\s+\{"nextExpectedVersion":2,"position":"2"\}`, out, "prints the response")
		assert.Regexp(t, `appended:\s+counter-1@2: Incremented \{"By":3\}`, out, "prints the new events")
	}
	when := func(tb testing.TB) *spec.HTTPWhen[Event] {
		return counterSpec(tb).
			Given("counter-1", Incremented{By: 2}).
			When(spec.Post("/counters/1", `{"by":3}`).IfMatch(`W/"1"`))
	}
	for name, tc := range map[string]struct {
		then func(w *spec.HTTPWhen[Event])
		says []string
	}{
		"Status":          {func(w *spec.HTTPWhen[Event]) { w.ThenStatus(201) }, []string{"unexpected status 200 OK", "expected: 201"}},
		"Header":          {func(w *spec.HTTPWhen[Event]) { w.ThenHeader("ETag", `W/"3"`) }, []string{"unexpected ETag header", `W/\"3\"`}},
		"MissingHeader":   {func(w *spec.HTTPWhen[Event]) { w.ThenHeader("Location", "/x") }, []string{"no Location header"}},
		"UnwantedHeader":  {func(w *spec.HTTPWhen[Event]) { w.ThenNoHeader("ETag") }, []string{"unexpected ETag header"}},
		"JSON":            {func(w *spec.HTTPWhen[Event]) { w.ThenJSON(`{"nextExpectedVersion":3,"position":"2"}`) }, []string{"unexpected body", "Diff:"}},
		"JSONContains":    {func(w *spec.HTTPWhen[Event]) { w.ThenJSONContains(`{"nextExpectedVersion":3,"other":[1]}`) }, []string{"$.nextExpectedVersion: want 3, got 2", "$.other: missing, want [1]"}},
		"Problem":         {func(w *spec.HTTPWhen[Event]) { w.ThenProblem(200) }, []string{`the Content-Type is "application/json", not application/problem+json`}},
		"Appended":        {func(w *spec.HTTPWhen[Event]) { w.ThenAppended("counter-1", Incremented{By: 4}) }, []string{`unexpected events appended to "counter-1"`, "Diff:"}},
		"NothingAppended": {func(w *spec.HTTPWhen[Event]) { w.ThenNothingAppended() }, []string{"expected no new events"}},
		"Body": {func(w *spec.HTTPWhen[Event]) {
			w.ThenBody(func(t testing.TB, body []byte) { assert.Empty(t, body) })
		}, []string{"spec failed"}},
		"NewEvents": {func(w *spec.HTTPWhen[Event]) {
			w.ThenNewEvents(func(t testing.TB, events []emmett.RecordedEvent) { assert.Empty(t, events) })
		}, []string{"spec failed"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, func(tb testing.TB) { tc.then(when(tb)) })
			require.True(t, r.failed, "the spec fails")
			out := r.output()
			for _, s := range tc.says {
				assert.Contains(t, out, s)
			}
			scenario(t, out)
		})
	}
}

func TestHTTPSpecRequestErrors(t *testing.T) {
	r := run(t, func(tb testing.TB) {
		counterSpec(tb).When(spec.Post("/counters/1", map[string]any{"f": func() {}}))
	})
	assert.True(t, r.failed, "a body that does not encode fails the spec")
	assert.Contains(t, r.output(), "building the request")

	r = run(t, func(tb testing.TB) {
		counterSpec(tb).Given("", Incremented{By: 1})
	})
	assert.True(t, r.failed, "given events the store refuses fail the spec")
	assert.Contains(t, r.output(), `given: appending to stream ""`)
}

func TestRequestBuilders(t *testing.T) {
	for _, tc := range []struct {
		req    *spec.Request
		method string
		body   string
	}{
		{spec.Get("/a"), "GET", ""},
		{spec.Delete("/a"), "DELETE", ""},
		{spec.Post("/a", "raw"), "POST", "raw"},
		{spec.Put("/a", []byte("{}")), "PUT", "{}"},
		{spec.Patch("/a", struct{ A int }{1}), "PATCH", `{"A":1}`},
	} {
		assert.Equal(t, tc.method, tc.req.Method)
		assert.Equal(t, tc.body, string(tc.req.Body))
		if tc.body == "" {
			assert.Empty(t, tc.req.Header.Get("Content-Type"))
		} else {
			assert.Equal(t, "application/json", tc.req.Header.Get("Content-Type"))
		}
	}
	req := spec.Post("/a", "x").WithHeader("Content-Type", "text/plain").IfMatch(`W/"1"`).IfNoneMatch("*").WithHeader("If-None-Match", "")
	assert.Equal(t, "text/plain", req.Header.Get("Content-Type"))
	assert.Equal(t, `W/"1"`, req.Header.Get("If-Match"))
	assert.NotContains(t, req.Header, "If-None-Match", "an empty value removes a header")
	assert.Equal(t, fmt.Sprintf("POST /a\n\tContent-Type: text/plain\n\tIf-Match: W/\"1\"\n\n\tx"), req.String())
}
