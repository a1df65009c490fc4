package shoppingcart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var clock = func() time.Time { return now }

func newApp(t *testing.T) (*memory.Store, *sc.App) {
	store := memory.New(memory.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	return store, &sc.App{Store: store, Now: clock}
}

// annsStream is the stream of ann's carts.
var annsStream = sc.ClientStreamName("ann")

// annOpened is ann's stream once the given carts were opened.
func annOpened(t testing.TB, cartIDs ...string) []eventstore.EventData {
	var events []sc.ClientEvent
	for _, id := range cartIDs {
		events = append(events, sc.ShoppingCartOpened{ClientID: "ann", ShoppingCartID: id, OpenedAt: now})
	}
	data, err := eventstore.Encode(sc.ClientEvents(), events, emmett.Metadata{})
	require.NoError(t, err)
	return data
}

// annOpens checks that a request opened cartID on ann's stream, before it
// added to the cart, and appended nothing else there.
func annOpens(cartID string) func(t testing.TB, events []emmett.RecordedEvent) {
	return func(t testing.TB, events []emmett.RecordedEvent) {
		var opened []sc.ClientEvent
		first := -1
		for i, e := range events {
			if e.StreamName != annsStream {
				continue
			}
			d, err := sc.ClientEvents().DecodeRecorded(e)
			require.NoError(t, err)
			opened = append(opened, d.Event)
			if first < 0 {
				first = i
			}
		}
		assert.Equal(t, []sc.ClientEvent{sc.ShoppingCartOpened{ClientID: "ann", ShoppingCartID: cartID, OpenedAt: now}}, opened)
		assert.Zero(t, first, "the cart is opened on ann's stream before its first item is added")
	}
}

func TestAddProductItemEndpoint(t *testing.T) {
	t.Run("OpensTheClientsFirstCart", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "shoes", "quantity": 2})).
			ThenStatus(http.StatusCreated).
			ThenHeader("ETag", `W/"1"`).
			ThenAppended("shopping_cart-ann:1", sc.ProductItemAddedToShoppingCart{
				ShoppingCartID: "ann:1", ClientID: "ann", AddedAt: now,
				ProductItem: sc.PricedProductItem{ProductID: "shoes", Quantity: 2, UnitPrice: sc.EUR(100)},
			}).
			ThenNewEvents(annOpens("ann:1"))
	})
	t.Run("AddsToTheOpenCart", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes)).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "socks", "quantity": 1}).IfMatch(`W/"1"`)).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"2"`).
			ThenAppended("shopping_cart-ann:1", addedTo("ann:1", "ann", with(socks, 1)))
	})
	t.Run("StaleVersionIs412", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes), addedTo("ann:1", "ann", socks)).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "socks", "quantity": 1}).IfMatch(`W/"1"`)).
			ThenProblem(http.StatusPreconditionFailed).
			ThenNothingAppended()
	})
	t.Run("MalformedJSONIs400", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", `{"productId":"shoes","quantity":`)).
			ThenProblem(http.StatusBadRequest).
			ThenNothingAppended()
	})
	t.Run("UnknownFieldIs400", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "shoes", "quantity": 1, "unitPrice": 0.01})).
			ThenProblem(http.StatusBadRequest).
			ThenNothingAppended()
	})
	t.Run("BadQuantityIs400", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "shoes", "quantity": 0})).
			ThenProblem(http.StatusBadRequest).
			ThenNothingAppended()
	})
	t.Run("UnknownProductIs404", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "yacht", "quantity": 1})).
			ThenProblem(http.StatusNotFound).
			ThenNothingAppended()
	})
	t.Run("AfterConfirmingANewCartOpens", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes), confirmedCart("ann:1", "ann")).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "hat", "quantity": 1})).
			ThenStatus(http.StatusCreated).
			ThenAppended("shopping_cart-ann:2", addedTo("ann:2", "ann", sc.PricedProductItem{ProductID: "hat", Quantity: 1, UnitPrice: sc.EUR(25)})).
			ThenNewEvents(annOpens("ann:2"))
	})
	t.Run("ACartOpenedWithoutItemsTakesTheNextAdd", func(t *testing.T) {
		// The process stopped between opening ann:2 on ann's stream and
		// adding to it: the add was not acknowledged, and the next one
		// goes to ann:2.
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1", "ann:2")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes), confirmedCart("ann:1", "ann")).
			When(spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "hat", "quantity": 1})).
			ThenStatus(http.StatusCreated).
			ThenAppended("shopping_cart-ann:2", addedTo("ann:2", "ann", sc.PricedProductItem{ProductID: "hat", Quantity: 1, UnitPrice: sc.EUR(25)})).
			ThenAppended("shopping_cart-ann:1").
			ThenNewEvents(func(t testing.TB, events []emmett.RecordedEvent) {
				assert.Len(t, events, 1, "nothing opened on ann's stream")
			})
	})
	t.Run("AConfirmedCartCannotBeConfirmedAgain", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes), confirmedCart("ann:1", "ann")).
			When(spec.Post("/clients/ann/shopping-carts/current/confirm", nil)).
			ThenProblem(http.StatusNotFound).
			ThenNothingAppended()
	})
}

func TestRemoveConfirmCancelEndpoints(t *testing.T) {
	t.Run("Remove", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
			When(spec.Delete("/clients/ann/shopping-carts/current/product-items?productId=socks&quantity=2&unitPrice=3.5")).
			ThenStatus(http.StatusOK).
			ThenAppended("shopping_cart-ann:1", sc.ProductItemRemovedFromShoppingCart{ShoppingCartID: "ann:1", ClientID: "ann", ProductItem: with(socks, 2), RemovedAt: now})
	})
	t.Run("RemoveTooManyIs403", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
			When(spec.Delete("/clients/ann/shopping-carts/current/product-items?productId=socks&quantity=9&unitPrice=3.5")).
			ThenProblem(http.StatusForbidden).
			ThenNothingAppended()
	})
	t.Run("RemoveBadQueryIs400", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
			When(spec.Delete("/clients/ann/shopping-carts/current/product-items?productId=socks&quantity=two&unitPrice=3.5")).
			ThenProblem(http.StatusBadRequest).
			ThenNothingAppended()
	})
	t.Run("RemoveWithoutAParameterSaysItIsMissing", func(t *testing.T) {
		for _, c := range []struct{ query, name string }{
			{"productId=socks&quantity=2", "unitPrice"},
			{"productId=socks&quantity=2&unitPrice=", "unitPrice"},
			{"productId=socks&unitPrice=3.5", "quantity"},
		} {
			store, app := newApp(t)
			spec.ForHTTP(t, store, sc.Events(), app.Handler()).
				GivenRaw(annsStream, annOpened(t, "ann:1")...).
				Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
				When(spec.Delete("/clients/ann/shopping-carts/current/product-items?" + c.query)).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"in": "query", "name": c.name, "detail": fmt.Sprintf("query parameter %q: %s is required", c.name, c.name)}).
				ThenNothingAppended()
		}
	})
	t.Run("RemoveWithAnInvalidUnitPriceIs400", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
			When(spec.Delete("/clients/ann/shopping-carts/current/product-items?productId=socks&quantity=2&unitPrice=-1")).
			ThenProblem(http.StatusBadRequest).
			ThenJSONContains(map[string]any{"name": "unitPrice", "detail": `query parameter "unitPrice": unitPrice must be a number from 0 to 1000000`}).
			ThenNothingAppended()
	})
	t.Run("NoOpenCartIs404", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(spec.Post("/clients/ann/shopping-carts/current/confirm", nil)).
			ThenProblem(http.StatusNotFound).
			ThenNothingAppended()
	})
	t.Run("Confirm", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
			When(spec.Post("/clients/ann/shopping-carts/current/confirm", nil).IfMatch(`W/"1"`)).
			ThenStatus(http.StatusOK).
			ThenHeader("ETag", `W/"2"`).
			ThenAppended("shopping_cart-ann:1", sc.ShoppingCartConfirmed{ShoppingCartID: "ann:1", ClientID: "ann", ConfirmedAt: now})
	})
	t.Run("ConfirmEmptyIs403", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks), removedFrom("ann:1", "ann", socks)).
			When(spec.Post("/clients/ann/shopping-carts/current/confirm", nil)).
			ThenProblem(http.StatusForbidden).
			ThenNothingAppended()
	})
	t.Run("Cancel", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)).
			When(spec.Delete("/clients/ann/shopping-carts/current")).
			ThenStatus(http.StatusOK).
			ThenAppended("shopping_cart-ann:1", sc.ShoppingCartCancelled{ShoppingCartID: "ann:1", ClientID: "ann", CancelledAt: now})
	})
}

func TestGetCartEndpoint(t *testing.T) {
	store, app := newApp(t)
	spec.ForHTTP(t, store, sc.Events(), app.Handler()).
		GivenRaw(annsStream, annOpened(t, "ann:1")...).
		Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes), addedTo("ann:1", "ann", with(shoes, 1))).
		When(spec.Get("/clients/ann/shopping-carts/current")).
		ThenStatus(http.StatusOK).
		ThenHeader("ETag", `W/"2"`).
		ThenJSON(map[string]any{
			"id": "ann:1", "clientId": "ann", "status": "Opened", "openedAt": now.Format(time.RFC3339),
			"productItems":      []any{map[string]any{"productId": "shoes", "quantity": 3, "unitPrice": map[string]any{"amount": 100, "currency": "EUR"}}},
			"productItemsCount": 3, "totalAmount": 300, "currency": "EUR",
		})

	store, app = newApp(t)
	spec.ForHTTP(t, store, sc.Events(), app.Handler()).
		When(spec.Get("/clients/bob/shopping-carts/current")).
		ThenProblem(http.StatusNotFound)

	t.Run("AConfirmedCartIsNoLongerCurrent", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", shoes), confirmedCart("ann:1", "ann")).
			When(spec.Get("/clients/ann/shopping-carts/current")).
			ThenProblem(http.StatusNotFound)
	})
	t.Run("ACartWithoutItemsIsNotShown", func(t *testing.T) {
		store, app := newApp(t)
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			When(spec.Get("/clients/ann/shopping-carts/current")).
			ThenProblem(http.StatusNotFound)
	})
}

// TestSummaryReadsItsWrites drives the API over a real server: the summary
// is kept by an asynchronous processor, and a read that names the position
// of a command waits for it.
func TestSummaryReadsItsWrites(t *testing.T) {
	store, app := newApp(t)
	summary := sc.ClientSummaryProjection()
	app.Summary = projection.NewProjectionProcessor(store.Processors(), store.Source(), summary)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = app.Summary.Run(ctx) }()
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()

	post := func(path, body string) string {
		res, err := srv.Client().Post(srv.URL+path, "application/json", stringReader(body))
		require.NoError(t, err)
		defer res.Body.Close()
		require.Less(t, res.StatusCode, 300)
		var out struct{ Position string }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
		return out.Position
	}
	post("/clients/ann/shopping-carts/current/product-items", `{"productId":"shoes","quantity":1}`)
	post("/clients/ann/shopping-carts/current/confirm", ``)
	pos := post("/clients/ann/shopping-carts/current/product-items", `{"productId":"socks","quantity":2}`)

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/clients/ann/shopping-carts/summary", nil)
	require.NoError(t, err)
	req.Header.Set(sc.WaitForHeader, pos)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var got sc.ClientShoppingSummary
	require.NoError(t, json.NewDecoder(res.Body).Decode(&got))
	require.NotNil(t, got.LastActivity, "version 2 of the summary")
	assert.True(t, now.Equal(*got.LastActivity), "when socks were added, by the app's clock: %s", got.LastActivity)
	got.LastActivity = nil
	assert.Equal(t, sc.ClientShoppingSummary{
		ClientID:  "ann",
		Pending:   sc.CartsSummary{CartsCount: 1, ProductItemsCount: 2, TotalAmount: 7},
		Confirmed: sc.CartsSummary{CartsCount: 1, ProductItemsCount: 1, TotalAmount: 100},
	}, got)
}

func stringReader(s string) io.Reader { return strings.NewReader(s) }

// racingStore appends one sock to a cart after each read of the cart's
// version and of its details document: the appends that can land between
// the two reads of GET .../current, in whichever order it makes them.
type racingStore struct {
	*memory.Store
	t      *testing.T
	stream string
	racing bool
}

func (s *racingStore) race() {
	if s.racing {
		s.addSock()
	}
}

func (s *racingStore) addSock() {
	data, err := eventstore.Encode(sc.Events(), []sc.Event{addedTo("ann:1", "ann", with(socks, 1))}, emmett.Metadata{})
	require.NoError(s.t, err)
	_, err = s.Store.AppendToStream(context.Background(), s.stream, data)
	require.NoError(s.t, err)
}

func (s *racingStore) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	v, exists, err := s.Store.StreamVersion(ctx, stream, opts...)
	if stream == s.stream {
		s.race()
	}
	return v, exists, err
}

func (s *racingStore) Documents() projection.DocumentStore {
	return racingDocs{DocumentStore: s.Store.Documents(), store: s}
}

type racingDocs struct {
	projection.DocumentStore
	store *racingStore
}

func (d racingDocs) Get(ctx context.Context, collection, id string) ([]byte, bool, error) {
	data, found, err := d.DocumentStore.Get(ctx, collection, id)
	if collection == sc.CartDetailsName && id == d.store.stream {
		d.store.race()
	}
	return data, found, err
}

// TestGetCartETagIsNeverNewerThanTheDocument checks that the ETag of the
// cart is never a version the returned document does not include, even
// with appends between the reads: an If-Match with it must not pass
// against a state the client has not seen.
func TestGetCartETagIsNeverNewerThanTheDocument(t *testing.T) {
	mem := memory.New(memory.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	store := &racingStore{Store: mem, t: t, stream: sc.StreamName("ann:1")}
	app := &sc.App{Store: store, Now: clock}
	h := app.Handler()
	_, err := mem.AppendToStream(context.Background(), annsStream, annOpened(t, "ann:1"))
	require.NoError(t, err)
	// Every event adds one item: a document's item count is its version.
	store.addSock()
	store.racing = true
	for range 5 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/clients/ann/shopping-carts/current", nil))
		require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
		var doc sc.ShoppingCartDetails
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
		etag, err := httpapi.ParseETag(rec.Header().Get("ETag"))
		require.NoError(t, err)
		v, _, err := mem.StreamVersion(context.Background(), store.stream)
		require.NoError(t, err)
		require.Greater(t, v, int64(doc.ProductItemsCount), "appends raced the request")
		assert.LessOrEqual(t, etag, int64(doc.ProductItemsCount), "the ETag is not newer than the document (version %d)", doc.ProductItemsCount)
	}

	// Without appends in between, the ETag is the document's version.
	store.racing = false
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/clients/ann/shopping-carts/current", nil))
	var doc sc.ShoppingCartDetails
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	assert.Equal(t, httpapi.ETag(int64(doc.ProductItemsCount)), rec.Header().Get("ETag"))
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	_, app := newApp(t)
	h := app.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/clients/ann/wish-lists", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"about:blank","title":"Not Found","status":404,"detail":"no such endpoint","instance":"/clients/ann/wish-lists"}`, rec.Body.String())

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/clients/ann/shopping-carts/current", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "DELETE, GET, HEAD", rec.Header().Get("Allow"))
	assert.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"about:blank","title":"Method Not Allowed","status":405,"detail":"PUT is not allowed here","instance":"/clients/ann/shopping-carts/current"}`, rec.Body.String())

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/clients/ann/shopping-carts/current/confirm", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
	assert.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"))
}

// pricesFunc is a PriceProvider of the test's own.
type pricesFunc func(ctx context.Context, productID string) (sc.Money, error)

func (f pricesFunc) UnitPrice(ctx context.Context, productID string) (sc.Money, error) {
	return f(ctx, productID)
}

func TestAppPrices(t *testing.T) {
	addShoes := func() *spec.Request {
		return spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "shoes", "quantity": 2})
	}
	t.Run("TheProvidersPriceIsAppended", func(t *testing.T) {
		store, app := newApp(t)
		var asked []string
		app.Prices = pricesFunc(func(_ context.Context, productID string) (sc.Money, error) {
			asked = append(asked, productID)
			return sc.EUR(42.5), nil
		})
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(addShoes()).
			ThenStatus(http.StatusCreated).
			ThenAppended("shopping_cart-ann:1", addedTo("ann:1", "ann", sc.PricedProductItem{ProductID: "shoes", Quantity: 2, UnitPrice: sc.EUR(42.5)}))
		assert.Equal(t, []string{"shoes"}, asked)
	})
	t.Run("AFailingProviderIs500", func(t *testing.T) {
		store, app := newApp(t)
		var logs strings.Builder
		app.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		app.Prices = pricesFunc(func(context.Context, string) (sc.Money, error) {
			return sc.Money{}, errors.New("price service: connection refused")
		})
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(addShoes()).
			ThenProblem(http.StatusInternalServerError).
			ThenBody(func(t testing.TB, body []byte) {
				assert.NotContains(t, string(body), "connection refused", "nothing internal leaks")
			}).
			ThenNothingAppended()
		assert.Contains(t, logs.String(), "price service: connection refused", "the error is logged")
	})
	t.Run("AProductTheProviderDoesNotSellIs404", func(t *testing.T) {
		store, app := newApp(t)
		app.Prices = pricesFunc(func(_ context.Context, productID string) (sc.Money, error) {
			return sc.Money{}, fmt.Errorf("%w %q: discontinued", sc.ErrUnknownProduct, productID)
		})
		spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			When(addShoes()).
			ThenProblem(http.StatusNotFound).
			ThenJSONContains(map[string]any{"detail": `not found: unknown product "shoes": discontinued`}).
			ThenNothingAppended()
	})
}

// TestQuantitiesAndPricesAreBounded checks the bounds of a cart over HTTP:
// adding 9223372036854775807 shoes and then one more once made a cart of
// -9223372036854775808, and a unitPrice of NaN was answered 403.
func TestQuantitiesAndPricesAreBounded(t *testing.T) {
	const items = "/clients/ann/shopping-carts/current/product-items"
	full := make([]sc.Event, 0, sc.MaxProductItems/sc.MaxQuantity)
	for i := range cap(full) {
		full = append(full, addedTo("ann:1", "ann", sc.PricedProductItem{ProductID: fmt.Sprint("product-", i), Quantity: sc.MaxQuantity, UnitPrice: sc.EUR(1)}))
	}
	badQuantity := map[string]any{"name": "quantity", "detail": `request body, field "quantity": quantity must be an integer from 1 to 10000`}
	badPrice := map[string]any{"name": "unitPrice", "detail": `query parameter "unitPrice": unitPrice must be a number from 0 to 1000000`}
	type check struct {
		name    string
		given   []sc.Event
		request *spec.Request
		problem map[string]any // what the 400's problem details hold
	}
	checks := []check{
		{"AddingMaxInt", nil, spec.Post(items, map[string]any{"productId": "shoes", "quantity": math.MaxInt}), badQuantity},
		{"AddingOverTheMaximum", nil, spec.Post(items, map[string]any{"productId": "shoes", "quantity": sc.MaxQuantity + 1}), badQuantity},
		{"AddingToAFullLine", []sc.Event{addedTo("ann:1", "ann", with(shoes, sc.MaxQuantity))},
			spec.Post(items, map[string]any{"productId": "shoes", "quantity": 1}), nil},
		{"AddingToAFullCart", full, spec.Post(items, map[string]any{"productId": "hat", "quantity": 1}), nil},
		{"RemovingMaxInt", []sc.Event{addedTo("ann:1", "ann", socks)},
			spec.Delete(items + "?productId=socks&unitPrice=3.5&quantity=9223372036854775807"), map[string]any{"name": "quantity"}},
	}
	for _, price := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity", "1e300", "1000000.01"} {
		checks = append(checks, check{"RemovingAtPrice" + price, []sc.Event{addedTo("ann:1", "ann", socks)},
			spec.Delete(items + "?productId=socks&quantity=1&unitPrice=" + price), badPrice})
	}
	for _, c := range checks {
		t.Run(c.name+"Is400", func(t *testing.T) {
			store, app := newApp(t)
			s := spec.ForHTTP(t, store, sc.Events(), app.Handler())
			if c.given != nil {
				s = s.GivenRaw(annsStream, annOpened(t, "ann:1")...).Given("shopping_cart-ann:1", c.given...)
			}
			then := s.When(c.request).ThenProblem(http.StatusBadRequest)
			if c.problem != nil {
				then = then.ThenJSONContains(c.problem)
			}
			then.ThenNothingAppended()
		})
	}

	t.Run("APriceProviderGivingAnInvalidPriceIs500", func(t *testing.T) {
		for _, price := range []float64{math.NaN(), math.Inf(1), -1, sc.MaxUnitPrice * 2} {
			store, app := newApp(t)
			app.Logger = slog.New(slog.DiscardHandler)
			app.Prices = pricesFunc(func(context.Context, string) (sc.Money, error) { return sc.EUR(price), nil })
			spec.ForHTTP(t, store, sc.Events(), app.Handler()).
				When(spec.Post(items, map[string]any{"productId": "shoes", "quantity": 1})).
				ThenProblem(http.StatusInternalServerError).
				ThenNothingAppended()
		}
	})
}
