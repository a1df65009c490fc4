// Command shoppingcart-web serves the browser edition of the shopping cart
// (make web): it builds the page's Go to js/wasm, then serves the page and
// the sample app's API (commands, read models, the SSE feed) on one
// origin, over a SQLite database.
//
//	shoppingcart-web [-addr :8090] [-db data/web.db]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/examples/shoppingcart/web"
	"github.com/emmett-go/emmett/httpapi"
)

func main() {
	addr := flag.String("addr", "localhost:8090", "address to listen on")
	dbPath := flag.String("db", "data/web.db", "the server's SQLite database")
	flag.Parse()
	if err := run(*addr, *dbPath); err != nil {
		fmt.Fprintln(os.Stderr, "shoppingcart-web:", err)
		os.Exit(1)
	}
}

func run(addr, dbPath string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "emmett-web-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	slog.Info("building the page's wasm (GOOS=js GOARCH=wasm)")
	if err := web.Build(ctx, dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, dbPath, sqlite.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	if err != nil {
		return err
	}
	defer store.Close()
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()), httpapi.WithUpgrade(sc.Upgrade))
	defer streams.Close()
	app := &sc.App{Store: store, Streams: streams}
	srv := &http.Server{Addr: addr, Handler: web.Handler(app.Handler(), dir)}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	slog.Info("the shopping cart in the browser", "url", "http://"+addr+"/")
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
