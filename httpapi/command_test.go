package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

var (
	shoes = testdomain.Item{ProductID: "shoes", Quantity: 2, UnitPrice: 100}
	socks = testdomain.Item{ProductID: "socks", Quantity: 5, UnitPrice: 3.5}
)

func added(cartID string, item testdomain.Item) testdomain.ItemAdded {
	return testdomain.ItemAdded{CartID: cartID, ClientID: "ann", Item: item, At: now}
}

func confirmed(cartID string) testdomain.CartConfirmed {
	return testdomain.CartConfirmed{CartID: cartID, At: now}
}

// addItem is the body of POST /carts/{id}/items.
type addItem struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
}

// errNoSuchClient is an application error with its own status.
var errNoSuchClient = errors.New("no such client")

// cartAPI is a small cart API over store.
func cartAPI(store eventstore.Store, opts ...httpapi.CommandOption) http.Handler {
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events())
	mux := http.NewServeMux()

	mux.Handle("POST /carts/{id}/items", httpapi.Command(carts,
		func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
			var body addItem
			if err := httpapi.DecodeJSON(r, &body); err != nil {
				return httpapi.CommandRequest[testdomain.Command]{}, err
			}
			if r.URL.Query().Get("client") == "nobody" {
				return httpapi.CommandRequest[testdomain.Command]{}, errNoSuchClient
			}
			id := r.PathValue("id")
			return httpapi.CommandRequest[testdomain.Command]{
				Stream: testdomain.StreamName(id),
				Command: testdomain.AddItem{CartID: id, ClientID: "ann", Now: now,
					Item: testdomain.Item(body)},
			}, nil
		}, opts...))

	mux.Handle("POST /carts/{id}/confirm", httpapi.Command(carts,
		func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
			id := r.PathValue("id")
			if id == "missing" {
				return httpapi.CommandRequest[testdomain.Command]{}, fmt.Errorf("%w: cart %q", emmett.ErrNotFound, id)
			}
			return httpapi.CommandRequest[testdomain.Command]{
				Stream:  testdomain.StreamName(id),
				Command: testdomain.ConfirmCart{CartID: id, Now: now},
			}, nil
		}, append(opts, httpapi.NoContent())...))

	mux.Handle("DELETE /carts/{id}", httpapi.Command(carts,
		func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
			id := r.PathValue("id")
			return httpapi.CommandRequest[testdomain.Command]{
				Stream:  testdomain.StreamName(id),
				Command: testdomain.CancelCart{CartID: id, Now: now},
				Options: []eventstore.AppendOption{eventstore.WithMetadata(emmett.Metadata{CorrelationID: r.Header.Get("X-Correlation-ID")})},
			}, nil
		},
		append(opts, httpapi.RespondWith(func(w http.ResponseWriter, r *http.Request, res command.Result[testdomain.Cart, testdomain.Event]) error {
			return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"status": res.State.Status, "events": len(res.Events)})
		}))...))
	return mux
}

func cartSpec(t *testing.T, opts ...httpapi.CommandOption) *spec.HTTPSpec[testdomain.Event] {
	store := memory.New()
	return spec.ForHTTP(t, store, testdomain.Events(), cartAPI(store, opts...))
}

func TestCommand(t *testing.T) {
	t.Run("CreatesTheStream", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100})).
			ThenStatus(http.StatusCreated).
			ThenHeader("ETag", `W/"1"`).
			ThenHeader("Content-Type", "application/json").
			ThenJSON(`{"nextExpectedVersion":1,"position":"1"}`).
			ThenAppended("cart-1", added("1", shoes))
	})
	t.Run("AppendsToAnExistingStream", func(t *testing.T) {
		cartSpec(t).
			Given("cart-0", added("0", socks)).
			Given("cart-1", added("1", shoes)).
			When(spec.Post("/carts/1/items", addItem{"socks", 5, 3.5})).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"2"`).
			ThenJSON(`{"nextExpectedVersion":2,"position":"3"}`).
			ThenAppended("cart-1", added("1", socks)).
			ThenAppended("cart-0")
	})
	t.Run("IfMatchAtTheCurrentVersion", func(t *testing.T) {
		for _, etag := range []string{`W/"1"`, `"1"`, ` W/"1" `} {
			cartSpec(t).
				Given("cart-1", added("1", shoes)).
				When(spec.Post("/carts/1/items", addItem{"socks", 5, 3.5}).IfMatch(etag)).
				ThenStatus(http.StatusOK).
				ThenHeader("ETag", `W/"2"`).
				ThenAppended("cart-1", added("1", socks))
		}
	})
	t.Run("IfMatchAtAStaleVersionIs412", func(t *testing.T) {
		cartSpec(t).
			Given("cart-1", added("1", shoes), added("1", socks)).
			When(spec.Post("/carts/1/items", addItem{"socks", 5, 3.5}).IfMatch(`W/"1"`)).
			ThenProblem(http.StatusPreconditionFailed).
			ThenNoHeader("ETag").
			ThenJSONContains(map[string]any{
				"type": "about:blank", "title": "Precondition Failed", "status": 412,
				"detail":          "the stream is at version 2, the request expected 1",
				"instance":        "/carts/1/items",
				"expectedVersion": 1, "actualVersion": 2,
			}).
			ThenNothingAppended()
	})
	t.Run("IfMatchStarNeedsTheStream", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/1/items", addItem{"socks", 5, 3.5}).IfMatch("*")).
			ThenProblem(http.StatusPreconditionFailed).
			ThenJSONContains(map[string]any{"expectedVersion": "stream_exists", "actualVersion": 0}).
			ThenNothingAppended()
	})
	t.Run("IfNoneMatchStarCreatesOnly", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).IfNoneMatch("*")).
			ThenStatus(http.StatusCreated).
			ThenHeader("ETag", `W/"1"`).
			ThenAppended("cart-1", added("1", shoes))
		cartSpec(t).
			Given("cart-1", added("1", shoes)).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).IfNoneMatch("*")).
			ThenProblem(http.StatusPreconditionFailed).
			ThenJSONContains(map[string]any{"expectedVersion": "no_stream", "actualVersion": 1}).
			ThenNothingAppended()
	})
	t.Run("MalformedPreconditionsAre400", func(t *testing.T) {
		for _, h := range [][2]string{
			{"If-Match", "1"}, {"If-Match", `W/"x"`}, {"If-Match", `W/"1", W/"2"`}, {"If-Match", `W/"-1"`},
			{"If-Match", `W/""`}, {"If-None-Match", `W/"1"`}, {"If-Match", `"99999999999999999999"`},
		} {
			cartSpec(t).
				When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).WithHeader(h[0], h[1])).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"in": "header", "name": h[0]}).
				ThenNothingAppended()
		}
		req := spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).IfMatch(`W/"1"`).IfNoneMatch("*")
		cartSpec(t).When(req).ThenProblem(http.StatusBadRequest).ThenNothingAppended()
	})
	t.Run("BadJSONIs400WithNothingAppended", func(t *testing.T) {
		for body, detail := range map[string]string{
			`{"productId":"shoes","quantity":`:                      "request body: the JSON is truncated",
			`{"productId":"shoes" "quantity":2}`:                    "request body: malformed JSON at byte 22: invalid character '\"' after object key:value pair",
			`{"productId":"shoes","quantity":"2"}`:                  `request body, field "quantity": got a JSON string, want an integer`,
			`{"productId":"shoes","quantity":2,"colour":"red"}`:     `request body, field "colour": unknown field`,
			`{"productId":"shoes","quantity":2,"unitPrice":1} {}`:   "request body: unexpected data after the JSON value",
			`{"productId":"shoes","quantity":2,"unitPrice":1} junk`: "request body: unexpected data after the JSON value",
			``:         "request body: the request body is empty; want JSON",
			`[1,2,3]`:  "request body: got a JSON array, want an object",
			"\xff\xfe": "request body: malformed JSON at byte 1: invalid character 'ÿ' looking for beginning of value",
		} {
			cartSpec(t).
				Given("cart-1", added("1", shoes)).
				When(spec.Post("/carts/1/items", body)).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"detail": detail, "in": "body"}).
				ThenNothingAppended()
		}
	})
	t.Run("TrailingWhitespaceIsFine", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/1/items", "  {\"productId\":\"shoes\",\"quantity\":2,\"unitPrice\":100}\r\n\t ")).
			ThenStatus(http.StatusCreated).
			ThenAppended("cart-1", added("1", shoes))
	})
	t.Run("NotJSONIs415", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/1/items", "productId=shoes").WithHeader("Content-Type", "application/x-www-form-urlencoded")).
			ThenProblem(http.StatusUnsupportedMediaType).
			ThenNothingAppended()
		cartSpec(t).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).WithHeader("Content-Type", "application/merge-patch+json; charset=utf-8")).
			ThenStatus(http.StatusCreated)
	})
	t.Run("OversizedBodyIs413", func(t *testing.T) {
		big := `{"productId":"` + strings.Repeat("x", 2<<20) + `","quantity":1,"unitPrice":1}`
		cartSpec(t).
			When(spec.Post("/carts/1/items", big)).
			ThenProblem(http.StatusRequestEntityTooLarge).
			ThenJSONContains(map[string]any{"limit": httpapi.DefaultMaxBodyBytes}).
			ThenNothingAppended()
		small := `{"productId":"` + strings.Repeat("x", 100) + `","quantity":1,"unitPrice":1}`
		cartSpec(t, httpapi.WithMaxBodyBytes(64)).
			When(spec.Post("/carts/1/items", small)).
			ThenProblem(http.StatusRequestEntityTooLarge).
			ThenJSONContains(map[string]any{"detail": "the request body is larger than the limit of 64 bytes", "limit": 64}).
			ThenNothingAppended()
	})
	t.Run("ValidationIs400", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/1/items", addItem{"shoes", 0, 100})).
			ThenProblem(http.StatusBadRequest).
			ThenJSONContains(map[string]any{"detail": "validation failed: quantity must be positive"}).
			ThenNothingAppended()
	})
	t.Run("BusinessRuleIs403", func(t *testing.T) {
		cartSpec(t).
			Given("cart-1", added("1", shoes), confirmed("1")).
			When(spec.Post("/carts/1/items", addItem{"socks", 5, 3.5})).
			ThenProblem(http.StatusForbidden).
			ThenJSONContains(map[string]any{"title": "Forbidden", "detail": "illegal state: cart is closed"}).
			ThenNothingAppended()
	})
	t.Run("NotFoundIs404", func(t *testing.T) {
		cartSpec(t).
			When(spec.Post("/carts/missing/confirm", nil)).
			ThenProblem(http.StatusNotFound).
			ThenJSONContains(map[string]any{"detail": `not found: cart "missing"`}).
			ThenNothingAppended()
	})
	t.Run("NoContent", func(t *testing.T) {
		cartSpec(t).
			Given("cart-1", added("1", shoes)).
			When(spec.Post("/carts/1/confirm", nil).IfMatch(`W/"1"`)).
			ThenStatus(http.StatusNoContent).
			ThenHeader("ETag", `W/"2"`).
			ThenBody(func(t testing.TB, body []byte) { assert.Empty(t, body) }).
			ThenAppended("cart-1", confirmed("1"))
	})
	t.Run("RespondWith", func(t *testing.T) {
		cartSpec(t).
			Given("cart-1", added("1", shoes)).
			When(spec.Delete("/carts/1").WithHeader("X-Correlation-ID", "corr-1")).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"2"`).
			ThenJSON(`{"status":"cancelled","events":1}`).
			ThenAppended("cart-1", testdomain.CartCancelled{CartID: "1", At: now}).
			ThenNewEvents(func(t testing.TB, events []emmett.RecordedEvent) {
				require.Len(t, events, 1)
				assert.Equal(t, "corr-1", events[0].Metadata.CorrelationID)
			})
	})
}

func TestCommandErrorMapping(t *testing.T) {
	var logs bytes.Buffer
	problems := &httpapi.Problems{
		Mappers: []httpapi.ErrorMapper{httpapi.MapError(errNoSuchClient, http.StatusUnprocessableEntity)},
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	cartSpec(t, httpapi.WithProblems(problems)).
		When(spec.Post("/carts/1/items?client=nobody", addItem{"shoes", 2, 100})).
		ThenProblem(http.StatusUnprocessableEntity).
		ThenJSONContains(map[string]any{"title": "Unprocessable Entity", "detail": "no such client"}).
		ThenNothingAppended()
	assert.Contains(t, logs.String(), "level=DEBUG")
	assert.Contains(t, logs.String(), "status=422")
}

// failingHandler fails every command with an internal error.
type failingHandler struct{ err error }

func (h failingHandler) Handle(context.Context, string, testdomain.Command, ...eventstore.AppendOption) (command.Result[testdomain.Cart, testdomain.Event], error) {
	return command.Result[testdomain.Cart, testdomain.Event]{}, h.err
}

func TestCommandInternalErrorsDoNotLeak(t *testing.T) {
	var logs bytes.Buffer
	secret := errors.New("pq: password authentication failed for user \"admin\" at 10.0.0.7")
	h := httpapi.Command(failingHandler{secret},
		func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
			return httpapi.CommandRequest[testdomain.Command]{Stream: "cart-1", Command: testdomain.ConfirmCart{}}, nil
		},
		httpapi.WithProblems(&httpapi.Problems{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	store := memory.New()
	w := spec.ForHTTP(t, store, testdomain.Events(), h).
		When(spec.Post("/carts/1/confirm", nil)).
		ThenProblem(http.StatusInternalServerError).
		ThenJSONContains(map[string]any{"title": "Internal Server Error", "detail": "the server failed to handle the request"})
	assert.NotContains(t, string(w.Body()), "admin")
	var p httpapi.Problem
	require.NoError(t, p.UnmarshalJSON(w.Body()))
	errorID, _ := p.Extensions["errorId"].(string)
	require.NotEmpty(t, errorID, "a 500 carries an id to find it in the logs")
	assert.Contains(t, logs.String(), errorID)
	assert.Contains(t, logs.String(), "password authentication failed", "the real error is logged")
	assert.Contains(t, logs.String(), `"level":"ERROR"`)
}

func TestCommandOnPlainHandler(t *testing.T) {
	store := memory.New()
	carts := command.NewHandler(store, testdomain.Events(), testdomain.Evolve, testdomain.InitialState)
	type decision = func(testdomain.Cart) ([]testdomain.Event, error)
	h := httpapi.Command(carts, func(r *http.Request) (httpapi.CommandRequest[decision], error) {
		return httpapi.CommandRequest[decision]{
			Stream: "cart-7",
			Command: func(state testdomain.Cart) ([]testdomain.Event, error) {
				return testdomain.Decide(testdomain.AddItem{CartID: "7", ClientID: "ann", Item: shoes, Now: now}, state)
			},
		}, nil
	})
	spec.ForHTTP(t, store, testdomain.Events(), h).
		When(spec.Post("/", nil)).
		ThenStatus(http.StatusCreated).
		ThenHeader("ETag", `W/"1"`).
		ThenAppended("cart-7", added("7", shoes))
}

func TestRespondWithWrongTypesPanics(t *testing.T) {
	store := memory.New()
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events())
	assert.PanicsWithValue(t,
		"httpapi.Command: RespondWith takes a command.Result[int,string], the handler gives a command.Result[testdomain.Cart, testdomain.Event]",
		func() {
			httpapi.Command(carts, func(*http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
				return httpapi.CommandRequest[testdomain.Command]{}, nil
			}, httpapi.RespondWith(func(http.ResponseWriter, *http.Request, command.Result[int, string]) error { return nil }))
		})
}

func TestCommandAuthorizer(t *testing.T) {
	var seen []httpapi.Action
	auth := httpapi.WithAuthorizer(func(r *http.Request, a httpapi.Action) error {
		seen = append(seen, a)
		switch r.Header.Get("Authorization") {
		case "":
			return httpapi.ErrUnauthorized
		case "Bearer ann":
			return nil
		case "Bearer cart-2-only":
			if a.Op == httpapi.OpReceiveCommand || a.Stream == testdomain.StreamName("2") {
				return nil
			}
		}
		return errors.New("not this one")
	})
	t.Run("NoCredentialsIs401BeforeDecoding", func(t *testing.T) {
		seen = nil
		cartSpec(t, auth).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100})).
			ThenProblem(http.StatusUnauthorized).
			ThenNothingAppended()
		assert.Equal(t, []httpapi.Action{{Op: httpapi.OpReceiveCommand}}, seen, "asked once, about the request alone")
	})
	t.Run("RefusedRequestIs403BeforeDecoding", func(t *testing.T) {
		seen = nil
		cartSpec(t, auth).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).WithHeader("Authorization", "Bearer bob")).
			ThenProblem(http.StatusForbidden).
			ThenJSONContains(map[string]any{"detail": "not allowed to run a command"}).
			ThenNothingAppended()
		assert.Equal(t, []httpapi.Action{{Op: httpapi.OpReceiveCommand}}, seen)
	})
	t.Run("RefusedStreamIs403", func(t *testing.T) {
		seen = nil
		cartSpec(t, auth).
			When(spec.Post("/carts/1/items", addItem{"shoes", 2, 100}).WithHeader("Authorization", "Bearer cart-2-only")).
			ThenProblem(http.StatusForbidden).
			ThenJSONContains(map[string]any{"detail": `not allowed to run a command on stream "cart-1"`}).
			ThenNothingAppended()
		assert.Equal(t, []httpapi.Action{{Op: httpapi.OpReceiveCommand}, {Op: httpapi.OpCommand, Stream: "cart-1"}}, seen)
	})
	t.Run("Allowed", func(t *testing.T) {
		seen = nil
		cartSpec(t, auth).
			When(spec.Post("/carts/2/items", addItem{"shoes", 2, 100}).WithHeader("Authorization", "Bearer cart-2-only")).
			ThenStatus(http.StatusCreated).
			ThenAppended("cart-2", added("2", shoes))
		assert.Equal(t, []httpapi.Action{{Op: httpapi.OpReceiveCommand}, {Op: httpapi.OpCommand, Stream: "cart-2"}}, seen)
	})
}

// TestCommandAuthorizerRunsBeforeDecode checks that a request the
// Authorizer refuses is never decoded (decode may read read models and
// other services), and that a request refused on its stream is never
// handled.
func TestCommandAuthorizerRunsBeforeDecode(t *testing.T) {
	store := memory.New()
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events())
	decoded := 0
	h := httpapi.Command(carts, func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
		decoded++
		return httpapi.CommandRequest[testdomain.Command]{Stream: testdomain.StreamName("1"), Command: testdomain.AddItem{
			CartID: "1", ClientID: "ann", Item: shoes, Now: now}}, nil
	}, httpapi.WithAuthorizer(func(r *http.Request, a httpapi.Action) error {
		if r.Header.Get("Authorization") == "Bearer ann" && (a.Stream == "" || r.Header.Get("X-Stream-Denied") == "") {
			return nil
		}
		return httpapi.ErrForbidden
	}))

	spec.ForHTTP(t, store, testdomain.Events(), h).
		When(spec.Post("/", nil).WithHeader("Authorization", "Bearer bob").WithHeader("If-Match", "not an etag")).
		ThenProblem(http.StatusForbidden).
		ThenNothingAppended()
	assert.Zero(t, decoded, "a refused request is not decoded, nor its headers read")

	spec.ForHTTP(t, store, testdomain.Events(), h).
		When(spec.Post("/", nil).WithHeader("Authorization", "Bearer ann").WithHeader("X-Stream-Denied", "1")).
		ThenProblem(http.StatusForbidden).
		ThenNothingAppended()
	assert.Equal(t, 1, decoded, "decoded to learn the stream, then refused")

	spec.ForHTTP(t, store, testdomain.Events(), h).
		When(spec.Post("/", nil).WithHeader("Authorization", "Bearer ann")).
		ThenStatus(http.StatusCreated).
		ThenAppended("cart-1", added("1", shoes))
	assert.Equal(t, 2, decoded)
}

// A decode function that names no stream is answered 400, before the
// Authorizer is asked about a stream, and nothing is handled.
func TestCommandWithoutStream(t *testing.T) {
	var seen []httpapi.Action
	store := memory.New()
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events())
	h := httpapi.Command(carts, func(*http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
		return httpapi.CommandRequest[testdomain.Command]{Command: testdomain.ConfirmCart{}}, nil
	}, httpapi.WithAuthorizer(func(r *http.Request, a httpapi.Action) error {
		seen = append(seen, a)
		return nil
	}))
	spec.ForHTTP(t, store, testdomain.Events(), h).
		When(spec.Post("/carts/1/confirm", nil)).
		ThenProblem(http.StatusBadRequest).
		ThenNothingAppended()
	assert.Equal(t, []httpapi.Action{{Op: httpapi.OpReceiveCommand}}, seen)
}

func TestActionDescriptions(t *testing.T) {
	for _, tc := range []struct {
		action httpapi.Action
		all    bool
		text   string
	}{
		{httpapi.Action{Op: httpapi.OpReceiveCommand}, false, "run a command"},
		{httpapi.Action{Op: httpapi.OpCommand, Stream: "cart-1"}, false, `run a command on stream "cart-1"`},
		{httpapi.Action{Op: httpapi.OpRead}, true, "read all events"},
		{httpapi.Action{Op: httpapi.OpSubscribe, Category: "cart"}, false, `subscribe to category "cart"`},
		{httpapi.Action{Op: httpapi.OpSubscribe}, true, "subscribe to all events"},
	} {
		assert.Equal(t, tc.all, tc.action.All(), "%v", tc.action)
		assert.Equal(t, tc.text, tc.action.String())
	}
}
