package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamsSpec mounts a Streams handler under /events on a new store.
func streamsSpec(t *testing.T, opts ...httpapi.StreamsOption) *spec.HTTPSpec[testdomain.Event] {
	store := memory.New()
	mux := http.NewServeMux()
	mux.Handle("/events/", http.StripPrefix("/events", httpapi.NewStreams(store, opts...)))
	return spec.ForHTTP(t, store, testdomain.Events(), mux)
}

func raw(typ string, n int) eventstore.EventData {
	return eventstore.EventData{Type: typ, Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
}

func raws(typ string, from, to int) []eventstore.EventData {
	var out []eventstore.EventData
	for n := from; n <= to; n++ {
		out = append(out, raw(typ, n))
	}
	return out
}

// eventsOf decodes the events of a page and returns "stream@position:n".
func eventsOf(t testing.TB, body []byte) []string {
	var page struct{ Events []eventstore.JSONEvent }
	require.NoError(t, json.Unmarshal(body, &page))
	out := []string{}
	for _, e := range page.Events {
		var data struct{ N int }
		require.NoError(t, json.Unmarshal(e.Data, &data))
		out = append(out, fmt.Sprintf("%s@%d:%d", e.StreamName, e.StreamPosition, data.N))
	}
	return out
}

func TestReadStream(t *testing.T) {
	given := func(t *testing.T) *spec.HTTPSpec[testdomain.Event] {
		return streamsSpec(t).
			GivenRaw("cart-1", raws("Added", 1, 3)...).
			GivenRaw("cart-2", raws("Added", 1, 1)...).
			GivenRaw("cart-1", raws("Added", 4, 5)...)
	}
	t.Run("FirstPage", func(t *testing.T) {
		given(t).
			When(spec.Get("/events/streams/cart-1?limit=2")).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"5"`).
			ThenHeader("Link", `</events/streams/cart-1?from=3&limit=2>; rel="next"`).
			ThenJSONContains(map[string]any{
				"streamName": "cart-1", "streamVersion": 5, "nextFrom": 3, "next": "/events/streams/cart-1?from=3&limit=2",
				"events": []any{
					map[string]any{"type": "Added", "data": map[string]any{"n": 1}, "metadata": map[string]any{},
						"streamName": "cart-1", "streamPosition": 1, "globalPosition": 1, "position": "1"},
					map[string]any{"streamPosition": 2, "globalPosition": 2, "position": "2"},
				},
			}).
			ThenNothingAppended()
	})
	t.Run("LastPage", func(t *testing.T) {
		given(t).
			When(spec.Get("/events/streams/cart-1?from=4&limit=2")).
			ThenStatus(http.StatusOK).
			ThenNoHeader("Link").
			ThenJSONContains(map[string]any{"streamVersion": 5, "nextFrom": 6}).
			ThenBody(func(t testing.TB, body []byte) {
				assert.Equal(t, []string{"cart-1@4:4", "cart-1@5:5"}, eventsOf(t, body))
				assert.NotContains(t, string(body), `"next"`)
			})
	})
	t.Run("PastTheEnd", func(t *testing.T) {
		given(t).
			When(spec.Get("/events/streams/cart-1?from=9")).
			ThenStatus(http.StatusOK).
			ThenJSONContains(map[string]any{"events": []any{}, "nextFrom": 9})
	})
	t.Run("DefaultPageSize", func(t *testing.T) {
		streamsSpec(t, httpapi.WithPageSize(3, 4)).
			GivenRaw("cart-1", raws("Added", 1, 9)...).
			When(spec.Get("/events/streams/cart-1")).
			ThenJSONContains(map[string]any{"nextFrom": 4, "next": "/events/streams/cart-1?from=4&limit=3"})
		streamsSpec(t, httpapi.WithPageSize(3, 4)).
			GivenRaw("cart-1", raws("Added", 1, 9)...).
			When(spec.Get("/events/streams/cart-1?limit=1000")).
			ThenJSONContains(map[string]any{"nextFrom": 5, "next": "/events/streams/cart-1?from=5&limit=4"})
	})
	t.Run("NotModified", func(t *testing.T) {
		for _, tag := range []string{`W/"5"`, `"5"`, `W/"4", W/"5"`, `*`} {
			given(t).
				When(spec.Get("/events/streams/cart-1?limit=2").IfNoneMatch(tag)).
				ThenStatus(http.StatusNotModified).
				ThenHeader("ETag", `W/"5"`).
				ThenBody(func(t testing.TB, body []byte) { assert.Empty(t, body) })
		}
		given(t).
			When(spec.Get("/events/streams/cart-1?limit=2").IfNoneMatch(`W/"4"`)).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"5"`)
	})
	t.Run("MissingStreamIs404", func(t *testing.T) {
		given(t).
			When(spec.Get("/events/streams/cart-3")).
			ThenProblem(http.StatusNotFound).
			ThenJSONContains(map[string]any{"detail": `stream not found: "cart-3"`, "instance": "/events/streams/cart-3"})
	})
	t.Run("BadParametersAre400", func(t *testing.T) {
		for _, q := range []string{"from=x", "from=-1", "limit=0", "limit=x", "limit=1e3"} {
			name := strings.Split(q, "=")[0]
			given(t).
				When(spec.Get("/events/streams/cart-1?" + q)).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"in": "query", "name": name})
		}
	})
	t.Run("EscapedNames", func(t *testing.T) {
		streamsSpec(t).
			GivenRaw("tenant/cart-1", raws("Added", 1, 2)...).
			When(spec.Get("/events/streams/tenant%2Fcart-1?limit=1")).
			ThenStatus(http.StatusOK).
			ThenJSONContains(map[string]any{"streamName": "tenant/cart-1", "next": "/events/streams/tenant%2Fcart-1?from=2&limit=1"})
	})
}

func TestReadAll(t *testing.T) {
	given := func(t *testing.T, opts ...httpapi.StreamsOption) *spec.HTTPSpec[testdomain.Event] {
		return streamsSpec(t, opts...).
			GivenRaw("cart-1", raws("Added", 1, 2)...).
			GivenRaw("order-1", raws("Placed", 3, 3)...).
			GivenRaw("cart-2", raws("Added", 4, 5)...)
	}
	t.Run("Pages", func(t *testing.T) {
		given(t).
			When(spec.Get("/events/all?limit=2")).
			ThenStatus(http.StatusOK).
			ThenHeader("Link", `</events/all?after=2&limit=2>; rel="next"`).
			ThenJSONContains(map[string]any{"nextAfter": "2", "next": "/events/all?after=2&limit=2"}).
			ThenBody(func(t testing.TB, body []byte) {
				assert.Equal(t, []string{"cart-1@1:1", "cart-1@2:2"}, eventsOf(t, body))
			})
		given(t).
			When(spec.Get("/events/all?after=2&limit=2")).
			ThenJSONContains(map[string]any{"nextAfter": "4", "next": "/events/all?after=4&limit=2"}).
			ThenBody(func(t testing.TB, body []byte) {
				assert.Equal(t, []string{"order-1@1:3", "cart-2@1:4"}, eventsOf(t, body))
			})
		given(t).
			When(spec.Get("/events/all?after=4&limit=2")).
			ThenNoHeader("Link").
			ThenJSONContains(map[string]any{"nextAfter": "5"}).
			ThenBody(func(t testing.TB, body []byte) {
				assert.Equal(t, []string{"cart-2@2:5"}, eventsOf(t, body))
			})
		given(t).
			When(spec.Get("/events/all?after=5")).
			ThenJSONContains(map[string]any{"nextAfter": "5", "events": []any{}})
	})
	t.Run("Category", func(t *testing.T) {
		given(t).
			When(spec.Get("/events/categories/cart?limit=3")).
			ThenStatus(http.StatusOK).
			ThenJSONContains(map[string]any{"nextAfter": "4", "next": "/events/categories/cart?after=4&limit=3"}).
			ThenBody(func(t testing.TB, body []byte) {
				assert.Equal(t, []string{"cart-1@1:1", "cart-1@2:2", "cart-2@1:4"}, eventsOf(t, body))
			})
		given(t).
			When(spec.Get("/events/categories/order?after=3")).
			ThenJSONContains(map[string]any{"nextAfter": "5", "events": []any{}}).
			ThenNoHeader("Link")
	})
	t.Run("BadAfterIs400", func(t *testing.T) {
		for _, q := range []string{"after=x", "after=-1", "after=1:x"} {
			given(t).
				When(spec.Get("/events/all?" + q)).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"in": "query", "name": "after"})
		}
	})
	t.Run("Partition", func(t *testing.T) {
		store := memory.New()
		ctx := t.Context()
		_, err := store.AppendToStream(ctx, "cart-1", raws("Added", 1, 1), eventstore.InPartition("tenant-a"))
		require.NoError(t, err)
		_, err = store.AppendToStream(ctx, "cart-1", raws("Added", 2, 2), eventstore.InPartition("tenant-b"))
		require.NoError(t, err)
		h := httpapi.NewStreams(store, httpapi.WithPartition("tenant-b"), httpapi.AllowAppend())
		spec.ForHTTP(t, store, testdomain.Events(), h).
			When(spec.Get("/all")).
			ThenBody(func(t testing.TB, body []byte) { assert.Equal(t, []string{"cart-1@1:2"}, eventsOf(t, body)) })
		spec.ForHTTP(t, store, testdomain.Events(), h).
			When(spec.Get("/streams/cart-1")).
			ThenBody(func(t testing.TB, body []byte) { assert.Equal(t, []string{"cart-1@1:2"}, eventsOf(t, body)) })
		spec.ForHTTP(t, store, testdomain.Events(), h).
			When(spec.Post("/streams/cart-1", `[{"type":"Added","data":{"n":3}}]`).IfMatch(`W/"1"`)).
			ThenStatus(http.StatusOK)
		v, _, err := store.StreamVersion(ctx, "cart-1", eventstore.InPartition("tenant-b"))
		require.NoError(t, err)
		assert.Equal(t, int64(2), v)
	})
}

func TestAppend(t *testing.T) {
	t.Run("DisabledByDefault", func(t *testing.T) {
		streamsSpec(t).
			When(spec.Post("/events/streams/cart-1", `[{"type":"Added","data":{"n":1}}]`)).
			ThenProblem(http.StatusMethodNotAllowed).
			ThenHeader("Allow", "GET, HEAD").
			ThenJSONContains(map[string]any{"detail": "appending events over HTTP is not enabled"}).
			ThenNothingAppended()
	})
	t.Run("CreatesTheStream", func(t *testing.T) {
		streamsSpec(t, httpapi.AllowAppend()).
			When(spec.Post("/events/streams/cart-1", `[
				{"type":"Added","data":{"n":1}},
				{"type":"Added","data":{"n":2},"metadata":{"correlationId":"c-1","user":"ann"},"messageId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}
			]`).IfNoneMatch("*")).
			ThenStatus(http.StatusCreated).
			ThenHeader("ETag", `W/"2"`).
			ThenJSONContains(map[string]any{"nextExpectedVersion": 2, "created": true, "position": "2",
				"events": []any{
					map[string]any{"streamName": "cart-1", "streamPosition": 1, "type": "Added", "data": map[string]any{"n": 1}},
					map[string]any{"streamPosition": 2, "messageId": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
						"metadata": map[string]any{"correlationId": "c-1", "user": "ann"}},
				}}).
			ThenNewEvents(func(t testing.TB, events []emmett.RecordedEvent) {
				require.Len(t, events, 2)
				assert.JSONEq(t, `{"n":2}`, string(events[1].Data))
				assert.Equal(t, emmett.Metadata{CorrelationID: "c-1", Fields: map[string]any{"user": "ann"}}, events[1].Metadata)
				assert.Equal(t, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", events[1].MessageID)
			})
	})
	t.Run("ExpectedVersion", func(t *testing.T) {
		streamsSpec(t, httpapi.AllowAppend()).
			GivenRaw("cart-1", raws("Added", 1, 2)...).
			When(spec.Post("/events/streams/cart-1", `[{"type":"Added","data":{"n":3}}]`).IfMatch(`W/"2"`)).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"3"`).
			ThenJSONContains(map[string]any{"nextExpectedVersion": 3, "created": false})
		streamsSpec(t, httpapi.AllowAppend()).
			GivenRaw("cart-1", raws("Added", 1, 2)...).
			When(spec.Post("/events/streams/cart-1", `[{"type":"Added","data":{"n":3}}]`).IfMatch(`W/"1"`)).
			ThenProblem(http.StatusPreconditionFailed).
			ThenJSONContains(map[string]any{"expectedVersion": 1, "actualVersion": 2}).
			ThenNothingAppended()
		streamsSpec(t, httpapi.AllowAppend()).
			GivenRaw("cart-1", raws("Added", 1, 2)...).
			When(spec.Post("/events/streams/cart-1", `[{"type":"Added","data":{"n":3}}]`).IfNoneMatch("*")).
			ThenProblem(http.StatusPreconditionFailed).
			ThenNothingAppended()
	})
	t.Run("BadInputIs400WithNothingAppended", func(t *testing.T) {
		for body, detail := range map[string]string{
			`[]`:                                            "no events to append",
			`[{"type":"Added"}]`:                            `invalid event 0 (type "Added"): data is not valid JSON`,
			`[{"data":{}}]`:                                 `invalid event 0 (type ""): no type name`,
			`[{"type":"Added","data":{},"extra":1}]`:        `request body, field "extra": unknown field`,
			`[{"type":"Added","data":{}}] []`:               "request body: unexpected data after the JSON value",
			`{"type":"Added","data":{}}`:                    "request body: got a JSON object, want an array",
			`[{"type":"Added","data":{},"messageId":"42"}]`: `request body, field "[0].messageId": not a UUID`,
			`[{"type":"Added","data":{},"metadata":[]}]`:    `request body, field "metadata": got a JSON array, want an object`,
		} {
			streamsSpec(t, httpapi.AllowAppend()).
				GivenRaw("cart-1", raws("Added", 1, 1)...).
				When(spec.Post("/events/streams/cart-1", body)).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"detail": detail}).
				ThenNothingAppended()
		}
	})
	t.Run("Validator", func(t *testing.T) {
		known := testdomain.Events()
		validate := httpapi.WithAppendValidator(func(r *http.Request, stream string, events []eventstore.EventData) error {
			for i, e := range events {
				if _, err := known.Decode(e.Type, e.Data); err != nil {
					return &httpapi.InputError{In: httpapi.InBody, Name: fmt.Sprintf("[%d]", i), Reason: err.Error()}
				}
			}
			return nil
		})
		streamsSpec(t, httpapi.AllowAppend(), validate).
			When(spec.Post("/events/streams/cart-1", `[{"type":"CartConfirmed","data":{"cartId":"1"}},{"type":"Hacked","data":{}}]`)).
			ThenProblem(http.StatusBadRequest).
			ThenJSONContains(map[string]any{"name": "[1]"}).
			ThenNothingAppended()
		streamsSpec(t, httpapi.AllowAppend(), validate).
			When(spec.Post("/events/streams/cart-1", `[{"type":"CartConfirmed","data":{"cartId":"1"}}]`)).
			ThenStatus(http.StatusCreated).
			ThenAppended("cart-1", testdomain.CartConfirmed{CartID: "1"})
	})
	t.Run("OversizedBodyIs413", func(t *testing.T) {
		body := `[{"type":"Added","data":"` + strings.Repeat("x", 200) + `"}]`
		streamsSpec(t, httpapi.AllowAppend(), httpapi.WithMaxBodyBytes(100)).
			When(spec.Post("/events/streams/cart-1", body)).
			ThenProblem(http.StatusRequestEntityTooLarge).
			ThenNothingAppended()
	})
	t.Run("OtherMethodsAre405", func(t *testing.T) {
		streamsSpec(t, httpapi.AllowAppend()).
			When(spec.Delete("/events/streams/cart-1")).
			ThenProblem(http.StatusMethodNotAllowed).
			ThenHeader("Allow", "GET, HEAD, POST")
		streamsSpec(t, httpapi.AllowAppend()).
			When(spec.Post("/events/all", "[]")).
			ThenProblem(http.StatusMethodNotAllowed).
			ThenHeader("Allow", "GET, HEAD")
		streamsSpec(t).
			When(spec.Post("/events/all/live", nil)).
			ThenProblem(http.StatusMethodNotAllowed).
			ThenHeader("Allow", "GET")
	})
	t.Run("UnknownPathIs404", func(t *testing.T) {
		streamsSpec(t).
			When(spec.Get("/events/nothing/here")).
			ThenProblem(http.StatusNotFound)
	})
}

func TestStreamsAuthorizer(t *testing.T) {
	var seen []httpapi.Action
	auth := func(r *http.Request, a httpapi.Action) error {
		seen = append(seen, a)
		switch r.Header.Get("Authorization") {
		case "":
			return fmt.Errorf("no token: %w", httpapi.ErrUnauthorized)
		case "Bearer reader":
			if a.Op != httpapi.OpRead {
				return errors.New("readers only read")
			}
		case "Bearer problem":
			return &httpapi.Problem{Status: http.StatusPaymentRequired, Detail: "pay first"}
		}
		return nil
	}
	given := func(t *testing.T) *spec.HTTPSpec[testdomain.Event] {
		return streamsSpec(t, httpapi.WithAuthorizer(auth), httpapi.AllowAppend()).
			GivenRaw("cart-1", raws("Added", 1, 1)...)
	}
	append := `[{"type":"Added","data":{"n":2}}]`

	given(t).When(spec.Get("/events/streams/cart-1")).
		ThenProblem(http.StatusUnauthorized)
	given(t).When(spec.Get("/events/all").WithHeader("Authorization", "Bearer reader")).
		ThenStatus(http.StatusOK)
	given(t).When(spec.Post("/events/streams/cart-1", append).WithHeader("Authorization", "Bearer reader")).
		ThenProblem(http.StatusForbidden).
		ThenJSONContains(map[string]any{"detail": `not allowed to append to stream "cart-1"`}).
		ThenBody(func(t testing.TB, body []byte) { assert.NotContains(t, string(body), "readers only") }).
		ThenNothingAppended()
	given(t).When(spec.Get("/events/categories/cart/live").WithHeader("Authorization", "Bearer reader")).
		ThenProblem(http.StatusForbidden).
		ThenJSONContains(map[string]any{"detail": `not allowed to subscribe to category "cart"`})
	given(t).When(spec.Get("/events/all").WithHeader("Authorization", "Bearer problem")).
		ThenProblem(http.StatusPaymentRequired).
		ThenJSONContains(map[string]any{"detail": "pay first"})
	given(t).When(spec.Post("/events/streams/cart-1", append).WithHeader("Authorization", "Bearer writer")).
		ThenStatus(http.StatusOK)

	seen = nil
	for _, target := range []string{
		"/events/streams/cart-1", "/events/streams/cart-1/live", "/events/all", "/events/all/live",
		"/events/categories/cart", "/events/categories/cart/live",
	} {
		given(t).When(spec.Get(target)).ThenProblem(http.StatusUnauthorized)
	}
	given(t).When(spec.Post("/events/streams/cart-1", append)).ThenProblem(http.StatusUnauthorized).ThenNothingAppended()
	assert.Equal(t, []httpapi.Action{
		{Op: httpapi.OpRead, Stream: "cart-1"},
		{Op: httpapi.OpSubscribe, Stream: "cart-1"},
		{Op: httpapi.OpRead},
		{Op: httpapi.OpSubscribe},
		{Op: httpapi.OpRead, Category: "cart"},
		{Op: httpapi.OpSubscribe, Category: "cart"},
		{Op: httpapi.OpAppend, Stream: "cart-1"},
	}, seen, "every endpoint asks the authorizer")
}
