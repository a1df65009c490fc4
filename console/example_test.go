package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/emmett-go/emmett/console"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
)

// An application mounts the console under /console, read-only: its pages
// are served, its actions refused.
func Example() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close()
	_, _ = store.AppendToStream(ctx, "shopping_cart-ann", []eventstore.EventData{{Type: "ShoppingCartOpened", Data: []byte(`{}`)}})

	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", console.New(store, console.WithPrefix("/console"))))

	page := httptest.NewRecorder()
	mux.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/console/streams?prefix=shopping_cart-", nil))
	fmt.Println(page.Code, strings.Contains(page.Body.String(), `href="/console/stream?name=shopping_cart-ann`))

	retry := httptest.NewRequest(http.MethodPost, "/console/parked/retry", strings.NewReader(url.Values{"id": {"1"}}.Encode()))
	retry.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	refused := httptest.NewRecorder()
	mux.ServeHTTP(refused, retry)
	fmt.Println(refused.Code)
	// Output:
	// 200 true
	// 403
}

// With an authorizer, the console asks it about every request: here
// anyone may look, and only a request with the operators' token may act.
func ExampleWithAuthorizer() {
	operators := func(r *http.Request, a console.Action) error {
		if a.IsView() || r.Header.Get("Authorization") == "Bearer operators-secret" {
			return nil
		}
		return fmt.Errorf("%s: operators only", a)
	}
	store, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		panic(err)
	}
	defer store.Close()
	h := console.New(store, console.WithAuthorizer(operators))

	form := url.Values{"projection": {"client_summary"}, "version": {"1"}}.Encode()
	for _, token := range []string{"", "operators-secret"} {
		r := httptest.NewRequest(http.MethodPost, "/projections/drop", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code) // 403, then 404: no such version to drop
	}
	// Output:
	// 403
	// 404
}
