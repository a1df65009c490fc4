package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/emmett-go/emmett/httpapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func routesFixture() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /carts/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /carts/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/files/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	return httpapi.Routes(mux, nil)
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) httpapi.Problem {
	t.Helper()
	require.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"), "body: %s", rec.Body)
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	return p
}

func TestRoutes(t *testing.T) {
	h := routesFixture()
	t.Run("ServesTheMatchingRouteWithItsPathValues", func(t *testing.T) {
		rec := serve(h, http.MethodGet, "/carts/7")
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.JSONEq(t, `{"id":"7"}`, rec.Body.String())

		rec = serve(h, http.MethodPost, "/carts/7")
		assert.Equal(t, http.StatusNoContent, rec.Code)
	})
	t.Run("UnknownPathIs404Problem", func(t *testing.T) {
		rec := serve(h, http.MethodGet, "/nowhere?x=1")
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, httpapi.Problem{Type: "about:blank", Title: "Not Found", Status: http.StatusNotFound,
			Detail: "no such endpoint", Instance: "/nowhere"}, problemOf(t, rec))
		assert.Empty(t, rec.Header().Get("Allow"))
	})
	t.Run("WrongMethodIs405ProblemWithAllow", func(t *testing.T) {
		rec := serve(h, http.MethodDelete, "/carts/7")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		assert.Equal(t, "GET, HEAD, POST", rec.Header().Get("Allow"))
		assert.Equal(t, httpapi.Problem{Type: "about:blank", Title: "Method Not Allowed", Status: http.StatusMethodNotAllowed,
			Detail: "DELETE is not allowed here", Instance: "/carts/7"}, problemOf(t, rec))
	})
	t.Run("RedirectsOfTheMuxStay", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("/files/", func(w http.ResponseWriter, r *http.Request) {})
		for _, target := range []string{"/files", "/files/../nowhere"} {
			want := serve(mux, http.MethodGet, target)
			got := serve(httpapi.Routes(mux, nil), http.MethodGet, target)
			require.GreaterOrEqual(t, want.Code, 300, "the mux redirects %s", target)
			require.Less(t, want.Code, 400, "the mux redirects %s", target)
			assert.Equal(t, want.Code, got.Code, target)
			assert.Equal(t, want.Header(), got.Header(), target)
			assert.Equal(t, want.Body.String(), got.Body.String(), target)
		}
		assert.Equal(t, "/files/", serve(h, http.MethodGet, "/files").Header().Get("Location"))
		assert.Equal(t, "/nowhere", serve(h, http.MethodGet, "/files/../nowhere").Header().Get("Location"), "a clean path first, even with no route")
	})
	t.Run("UsesTheProblems", func(t *testing.T) {
		mux := http.NewServeMux()
		problems := &httpapi.Problems{Mappers: []httpapi.ErrorMapper{func(err error) *httpapi.Problem {
			return &httpapi.Problem{Type: "https://example.com/no-route", Status: http.StatusNotFound}
		}}}
		rec := serve(httpapi.Routes(mux, problems), http.MethodGet, "/x")
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, "https://example.com/no-route", problemOf(t, rec).Type)
	})
}
