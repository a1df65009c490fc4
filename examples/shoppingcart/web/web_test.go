package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/examples/shoppingcart/web"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium returns the path of Debian's chromium. Without it the test is
// skipped, but fails under CI (CI=true, where .ci/run installs it) or
// EMMETT_REQUIRE_BROWSER=1.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("EMMETT_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on PATH: the browser test needs it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: apt-get install chromium to run the browser test")
	return ""
}

// server is the sample app's API with the page, on a SQLite database.
type server struct {
	*httptest.Server
	store *sqlite.Store
}

func newServer(t *testing.T) *server {
	ctx := context.Background()
	dir := t.TempDir()
	require.NoError(t, web.Build(ctx, dir))
	store, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"), sqlite.WithSynchronous(sqlite.SyncOff),
		sqlite.WithProjections(sc.CartDetailsProjection(), sc.CartShortInfoProjection()))
	require.NoError(t, err)
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()), httpapi.WithUpgrade(sc.Upgrade))
	app := &sc.App{Store: store, Streams: streams}
	srv := httptest.NewServer(web.Handler(app.Handler(), dir))
	t.Cleanup(func() {
		streams.Close()
		srv.CloseClientConnections()
		srv.Close()
		_ = store.Close()
	})
	return &server{Server: srv, store: store}
}

// events returns the types of the events of the client's carts on the
// server, in order.
func (s *server) events(t *testing.T, clientID string) []string {
	t.Helper()
	var types []string
	for e, err := range s.store.ReadAll(context.Background(), eventstore.Position{}) {
		require.NoError(t, err)
		if strings.HasPrefix(e.StreamName, sc.StreamName(clientID+":")) {
			types = append(types, e.Type)
		}
	}
	return types
}

type page struct {
	t   *testing.T
	ctx context.Context
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	require.NoError(p.t, chromedp.Do(ctx, actions...))
}

func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(p.t, err)
	return v
}

// waitFor polls a JavaScript condition.
func (p *page) waitFor(js, what string) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !eval[bool](p, js) {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s (%s); the page:\n%s", what, js, eval[string](p, `document.body.innerText`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) add(product string, quantity int) {
	p.t.Helper()
	p.run(
		chromedp.SetValue(chromedp.CSS("#product"), product),
		chromedp.SetValue(chromedp.CSS("#quantity"), fmt.Sprint(quantity)),
		chromedp.Click(chromedp.CSS("#add")),
	)
}

// quantityOf is the JavaScript expression of a product's quantity in the
// cart shown ("" when absent).
func quantityOf(product string) string {
	return fmt.Sprintf(`(document.querySelector('tr.item[data-product=%q] .qty') || {textContent: ""}).textContent`, product)
}

func (p *page) setOffline(offline bool) {
	p.t.Helper()
	p.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		var rules []*network.Conditions
		if offline {
			rules = []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}
		}
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: rules}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	}))
}

// TestBrowser runs the page in headless Chromium: the cart is made in the
// page (SQLite in js/wasm), kept across a reload (IndexedDB), made
// offline and sent to the server once online, and a command made on a
// version of the server's cart that changed meanwhile is shown as a
// conflict.
func TestBrowser(t *testing.T) {
	path := chromium(t)
	srv := newServer(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1100, 1000),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first run starts the browser, which lives as long as the
	// context of that run: ctx itself, not one with a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	p := &page{t: t, ctx: ctx}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			t.Logf("page console: %s", m)
		}
	}()
	const client = "ann"

	// Load the page: the cart runs in it; time its cold start.
	p.run(
		chromedp.Navigate(srv.URL+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem("emmettClientId", "ann")`),
		chromedp.Reload(),
	)
	p.waitFor(`document.body.dataset.ready === "true"`, "the page's cart")
	firstCommand := eval[float64](p, `(async () => { await emmettCart.add("shoes", 1); return performance.now(); })()`)
	t.Logf("cold start (navigation to the first command done): %.0f ms; Go's start: %.1f ms", firstCommand, eval[float64](p, `emmettCart.startedMs`))
	p.add("shoes", 1)
	p.waitFor(quantityOf("shoes")+` === "2"`, "2 shoes")
	p.add("socks", 3)
	p.waitFor(quantityOf("socks")+` === "3"`, "3 socks")
	p.waitFor(`document.body.dataset.pending === "0"`, "the commands sent")
	assert.Equal(t, []string{"ProductItemAddedToShoppingCart", "ProductItemAddedToShoppingCart", "ProductItemAddedToShoppingCart"}, srv.events(t, client))

	// Reload: the cart comes back from IndexedDB.
	p.run(chromedp.Reload())
	p.waitFor(`document.body.dataset.ready === "true"`, "the page after the reload")
	assert.Equal(t, "2", eval[string](p, quantityOf("shoes")))
	assert.Equal(t, "3", eval[string](p, quantityOf("socks")))
	assert.Equal(t, 3.0, eval[float64](p, `document.querySelectorAll("#events li").length`), "the local events")

	// Offline: the command is made in the page and waits in the outbox.
	p.setOffline(true)
	p.waitFor(`!navigator.onLine`, "offline")
	p.add("hat", 2)
	p.waitFor(quantityOf("hat")+` === "2"`, "2 hats, offline")
	time.Sleep(1500 * time.Millisecond) // a sync would have run
	assert.Equal(t, "1", eval[string](p, `document.body.dataset.pending`))
	assert.Len(t, srv.events(t, client), 3, "the server has not seen the offline command")
	// Online: it reaches the server.
	p.setOffline(false)
	p.waitFor(`document.body.dataset.pending === "0"`, "the offline command sent")
	assert.Len(t, srv.events(t, client), 4)
	// The server's events come in over SSE.
	p.waitFor(`document.querySelectorAll("#server li").length >= 4`, "the server's events in the page")

	// A conflict: offline, the page removes a socks on version 4 of the
	// server's cart, while another device adds to it on the server.
	p.setOffline(true)
	p.waitFor(`!navigator.onLine`, "offline")
	p.run(chromedp.Click(chromedp.CSS(`tr.item[data-product="socks"] button`)))
	p.waitFor(quantityOf("socks")+` === "2"`, "a socks removed, offline")
	resp, err := http.Post(srv.URL+"/clients/ann/shopping-carts/current/product-items", "application/json", strings.NewReader(`{"productId":"gloves","quantity":1}`))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)
	p.setOffline(false)
	p.waitFor(`document.querySelectorAll("#conflicts li").length === 1`, "the conflict shown")
	assert.Contains(t, eval[string](p, `document.querySelector("#conflicts li").textContent`), "remove 1 × socks")
	assert.Len(t, srv.events(t, client), 5, "the conflicting command was not stored")

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shots := os.Getenv("EMMETT_ARTIFACTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "emmett-artifacts")
	}
	require.NoError(t, os.MkdirAll(filepath.Join(shots, "web"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(shots, "web", "cart.png"), png, 0o644))
	if os.Getenv("EMMETT_UPDATE_DOCS") == "1" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "..", "docs", "web.png"), png, 0o644))
	}
}
