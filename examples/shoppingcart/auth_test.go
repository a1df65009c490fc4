package shoppingcart_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var auth = sc.NewAuth([]byte("the sample app's test key, 32 b"))

func TestAuthTokens(t *testing.T) {
	ann := auth.ClientToken("ann")
	assert.True(t, strings.HasPrefix(ann, "client:ann."), ann)
	assert.Equal(t, ann, sc.NewAuth([]byte("the sample app's test key, 32 b")).ClientToken("ann"), "a token is made again from the key alone")
	assert.NotEqual(t, ann, sc.NewAuth([]byte("another key")).ClientToken("ann"))
	assert.NotEqual(t, ann, auth.ClientToken("bob"))
	assert.True(t, strings.HasPrefix(auth.EventsToken(), "events."), auth.EventsToken())
	assert.Equal(t, "client:a.b.c.", auth.ClientToken("a.b.c")[:len("client:a.b.c.")], "a client id may hold dots")
}

// bearer returns the Authorization header of token.
func bearer(token string) string { return "Bearer " + token }

// TestAppAuth checks that, with Auth, a client's endpoints take that
// client's token only: anyone could once add to, remove from, confirm and
// cancel another client's cart, and read it.
func TestAppAuth(t *testing.T) {
	newAuthApp := func(t *testing.T) (*spec.HTTPSpec[sc.Event], *sc.App) {
		store, app := newApp(t)
		app.Auth = auth
		return spec.ForHTTP(t, store, sc.Events(), app.Handler()).
			GivenRaw(annsStream, annOpened(t, "ann:1")...).
			Given("shopping_cart-ann:1", addedTo("ann:1", "ann", socks)), app
	}
	addSocks := func() *spec.Request {
		return spec.Post("/clients/ann/shopping-carts/current/product-items", map[string]any{"productId": "socks", "quantity": 1})
	}
	writes := map[string]func() *spec.Request{
		"Add": addSocks,
		"Remove": func() *spec.Request {
			return spec.Delete("/clients/ann/shopping-carts/current/product-items?productId=socks&quantity=1&unitPrice=3.5")
		},
		"Confirm": func() *spec.Request { return spec.Post("/clients/ann/shopping-carts/current/confirm", nil) },
		"Cancel":  func() *spec.Request { return spec.Delete("/clients/ann/shopping-carts/current") },
	}
	forged := sc.NewAuth([]byte("not the app's key")).ClientToken("ann")
	for name, req := range writes {
		t.Run(name+"WithoutATokenIs401", func(t *testing.T) {
			s, _ := newAuthApp(t)
			s.When(req()).ThenProblem(http.StatusUnauthorized).ThenNothingAppended()
		})
		t.Run(name+"WithAForgedTokenIs401", func(t *testing.T) {
			s, _ := newAuthApp(t)
			s.When(req().WithHeader("Authorization", bearer(forged))).ThenProblem(http.StatusUnauthorized).ThenNothingAppended()
		})
		t.Run(name+"WithAnotherClientsTokenIs403", func(t *testing.T) {
			s, _ := newAuthApp(t)
			s.When(req().WithHeader("Authorization", bearer(auth.ClientToken("bob")))).ThenProblem(http.StatusForbidden).ThenNothingAppended()
		})
		t.Run(name+"WithTheEventsTokenIs403", func(t *testing.T) {
			s, _ := newAuthApp(t)
			s.When(req().WithHeader("Authorization", bearer(auth.EventsToken()))).ThenProblem(http.StatusForbidden).ThenNothingAppended()
		})
		t.Run(name+"WithTheClientsTokenIsDone", func(t *testing.T) {
			s, _ := newAuthApp(t)
			s.When(req().WithHeader("Authorization", bearer(auth.ClientToken("ann")))).ThenStatus(http.StatusOK)
		})
	}
	t.Run("AnotherClientsFirstAddOpensNoCart", func(t *testing.T) {
		s, _ := newAuthApp(t)
		s.When(spec.Post("/clients/bob/shopping-carts/current/product-items", map[string]any{"productId": "socks", "quantity": 1}).
			WithHeader("Authorization", bearer(auth.ClientToken("ann")))).
			ThenProblem(http.StatusForbidden).
			ThenNothingAppended()
	})
	t.Run("TheSchemeIsCaseInsensitive", func(t *testing.T) {
		s, _ := newAuthApp(t)
		s.When(addSocks().WithHeader("Authorization", "bearer "+auth.ClientToken("ann"))).ThenStatus(http.StatusOK)
	})

	reads := map[string]string{"Cart": "/clients/ann/shopping-carts/current", "Summary": "/clients/ann/shopping-carts/summary"}
	for name, path := range reads {
		t.Run(name, func(t *testing.T) {
			_, app := newAuthApp(t)
			h := app.Handler()
			for token, want := range map[string]int{
				"":                      http.StatusUnauthorized,
				forged:                  http.StatusUnauthorized,
				auth.ClientToken("bob"): http.StatusForbidden,
				auth.EventsToken():      http.StatusForbidden,
			} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if token != "" {
					req.Header.Set("Authorization", bearer(token))
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				assert.Equal(t, want, rec.Code, "token %q: %s", token, rec.Body)
				assert.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"))
				assert.NotContains(t, rec.Body.String(), "socks", "nothing of ann's cart")
			}
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", bearer(auth.ClientToken("ann")))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if name == "Cart" {
				assert.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
			} else {
				assert.Equal(t, http.StatusNotFound, rec.Code, "allowed: ann has no summary in this test (%s)", rec.Body)
			}
		})
	}
}

// TestEventFeedsAuth checks the event feeds with Authorize: only the
// events token reads them. /events/all once showed every client's events
// to anyone.
func TestEventFeedsAuth(t *testing.T) {
	store, app := newApp(t)
	app.Auth = auth
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()), httpapi.WithAuthorizer(auth.Authorize))
	defer streams.Close()
	app.Streams = streams
	h := app.Handler()
	add := httptest.NewRequest(http.MethodPost, "/clients/ann/shopping-carts/current/product-items", strings.NewReader(`{"productId":"socks","quantity":1}`))
	add.Header.Set("Content-Type", "application/json")
	add.Header.Set("Authorization", bearer(auth.ClientToken("ann")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, add)
	require.Equal(t, http.StatusCreated, rec.Code, "%s", rec.Body)

	for _, path := range []string{"/events/all", "/events/all/live", "/events/streams/shopping_cart-ann:1", "/events/categories/shopping_cart",
		"/events/streams/client_shopping_carts-ann/live"} {
		for token, want := range map[string]int{
			"":                      http.StatusUnauthorized,
			auth.ClientToken("ann"): http.StatusForbidden, // even to ann's own streams
		} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if token != "" {
				req.Header.Set("Authorization", bearer(token))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, want, rec.Code, "%s with token %q: %s", path, token, rec.Body)
			assert.NotContains(t, rec.Body.String(), "socks")
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/events/all", nil)
	req.Header.Set("Authorization", bearer(auth.EventsToken()))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
	assert.Contains(t, rec.Body.String(), "socks")
}
