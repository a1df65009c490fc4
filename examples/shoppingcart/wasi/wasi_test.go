//go:build !(js || wasip1)

package wasi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/examples/shoppingcart/wasi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modulePath is the module built once for the package's tests.
var modulePath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "emmett-wasi-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	modulePath = filepath.Join(dir, "module.wasm")
	if err := wasi.Build(context.Background(), modulePath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newHost(tb testing.TB) *wasi.Host {
	tb.Helper()
	ctx := context.Background()
	// The compiled module is kept across runs of the tests (compiling it
	// takes most of their time).
	h, err := wasi.NewHost(ctx, modulePath, tb.TempDir(), wasi.WithCompilationCache(filepath.Join(os.TempDir(), "emmett-wazero-cache")))
	require.NoError(tb, err)
	tb.Cleanup(func() { h.Close(ctx) })
	return h
}

func do(t *testing.T, h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRequestPerInstance: each request starts the module afresh, on the
// same database file: what one stored, the next reads; a stale If-Match
// is refused.
func TestRequestPerInstance(t *testing.T) {
	h := newHost(t)
	const cart = "/clients/ann/shopping-carts/current"
	w := do(t, h, http.MethodPost, cart+"/product-items", `{"productId":"shoes","quantity":2}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, `W/"1"`, w.Header().Get("ETag"))
	w = do(t, h, http.MethodPost, cart+"/product-items", `{"productId":"socks","quantity":1}`, "If-Match", `W/"1"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	w = do(t, h, http.MethodPost, cart+"/product-items", `{"productId":"socks","quantity":1}`, "If-Match", `W/"1"`)
	assert.Equal(t, http.StatusPreconditionFailed, w.Code, "a stale version: %s", w.Body.String())

	w = do(t, h, http.MethodGet, cart, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var details sc.ShoppingCartDetails
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &details))
	assert.Equal(t, 3, details.ProductItemsCount)
	assert.Len(t, details.ProductItems, 2)
}

// BenchmarkColdStart measures a request served by a fresh instance of the
// module (instantiate, Go's start, open the database, handle, exit)
// against the same request served natively by a store opened for it
// (open, handle, close) in the same run: the ratio is what a per-request
// Wasm sandbox costs.
func BenchmarkColdStart(b *testing.B) {
	body := `{"productId":"shoes","quantity":1}`
	b.Run("wasip1", func(b *testing.B) {
		h := newHost(b)
		for i := 0; b.Loop(); i++ {
			resp, err := h.Do(context.Background(), wasi.Request{Method: http.MethodPost,
				Path:   fmt.Sprintf("/clients/c%d/shopping-carts/current/product-items", i%50),
				Header: http.Header{"Content-Type": {"application/json"}}, Body: body})
			if err != nil || resp.Status >= 300 {
				b.Fatal(err, resp.Status, resp.Body)
			}
		}
	})
	b.Run("native", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "carts.db")
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			store, err := sqlite.Open(ctx, path, sqlite.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/clients/c%d/shopping-carts/current/product-items", i%50), strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			(&sc.App{Store: store}).Handler().ServeHTTP(w, r)
			if w.Code >= 300 {
				b.Fatal(w.Code, w.Body.String())
			}
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
