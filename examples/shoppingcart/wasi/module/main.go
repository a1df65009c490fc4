//go:build wasip1

// Command module is the sample app's command handling as a wasip1 module
// for a serverless host: it starts, handles one HTTP request read from
// stdin (a Request as JSON), writes the Response as JSON to stdout, and
// exits. Its events and inline read models are in the SQLite database
// /data/carts.db, which the host mounts (github.com/ncruces/go-sqlite3,
// one connection, no file locks on wasip1: the host runs one request on a
// database at a time).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/examples/shoppingcart/wasi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "module:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	var req wasi.Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return err
	}
	path := os.Getenv("EMMETT_DB")
	if path == "" {
		path = "/data/carts.db"
	}
	store, err := sqlite.Open(ctx, path, sqlite.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	if err != nil {
		return err
	}
	defer store.Close()
	app := &sc.App{Store: store}
	r := httptest.NewRequestWithContext(ctx, req.Method, req.Path, strings.NewReader(req.Body))
	for k, vs := range req.Header {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	app.Handler().ServeHTTP(w, r)
	return json.NewEncoder(os.Stdout).Encode(wasi.Response{Status: w.Code, Header: w.Header(), Body: w.Body.String()})
}
