package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadBytesInClientIDAre400 sends client ids that no store can keep
// (a NUL, bytes that are not UTF-8) to every endpoint of a client, on
// SQLite and on PostgreSQL: each is answered 400 as problem details, the
// same on both, and nothing is stored. (PostgreSQL refused them with 500s:
// they reached it in a query condition or a document id.)
func TestBadBytesInClientIDAre400(t *testing.T) {
	backends := map[string]func(t *testing.T) (*backend, error){
		"SQLite": func(t *testing.T) (*backend, error) {
			return openBackend(context.Background(), slog.Default(), filepath.Join(t.TempDir(), "carts.db"), "")
		},
		"PostgreSQL": func(t *testing.T) (*backend, error) {
			return openBackend(context.Background(), slog.Default(), "", pgtest.NewDatabase(t))
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			bk, err := open(t)
			require.NoError(t, err)
			t.Cleanup(func() { _ = bk.close() })
			srv := httptest.NewServer((&sc.App{Store: bk.store}).Handler())
			t.Cleanup(srv.Close)

			for _, client := range []string{"nul%00x", "bad%ffx", "%00", "%c3%28"} {
				base := "/clients/" + client + "/shopping-carts"
				for _, req := range []struct{ method, path, body string }{
					{http.MethodPost, base + "/current/product-items", `{"productId":"shoes","quantity":1}`},
					{http.MethodGet, base + "/current", ""},
					{http.MethodGet, base + "/summary", ""},
					{http.MethodPost, base + "/current/confirm", ""},
					{http.MethodDelete, base + "/current/product-items?productId=shoes&quantity=1&unitPrice=100", ""},
					{http.MethodDelete, base + "/current", ""},
				} {
					r, err := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
					require.NoError(t, err)
					if req.body != "" {
						r.Header.Set("Content-Type", "application/json")
					}
					res, err := srv.Client().Do(r)
					require.NoError(t, err)
					body, err := io.ReadAll(res.Body)
					res.Body.Close()
					require.NoError(t, err)
					if assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%s %s: %s", req.method, req.path, body) {
						assert.Equal(t, httpapi.ProblemContentType, res.Header.Get("Content-Type"))
						var p httpapi.Problem
						require.NoError(t, json.Unmarshal(body, &p))
						assert.Equal(t, http.StatusBadRequest, p.Status)
					}
				}
			}
			for _, err := range bk.store.ReadAll(context.Background(), eventstore.Position{}) {
				require.NoError(t, err)
				t.Fatal("an event was stored")
			}
		})
	}
}
