package console_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emmett-go/emmett/console"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium returns the path of Debian's chromium (or another Chrome). It
// is missing: the test is skipped, but fails under CI (CI=true) or
// EMMETT_REQUIRE_BROWSER=1, where .ci/run installs it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("EMMETT_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on PATH: the browser tests need it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: apt-get install chromium to run the browser tests")
	return ""
}

// browser is a headless Chromium tab that records the errors its pages
// log (console errors, uncaught exceptions, failed loads, CSP violations).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
	shots  string // where screenshots go
}

func newBrowser(t *testing.T) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	b := &browser{ctx: ctx, shots: os.Getenv("EMMETT_ARTIFACTS")}
	if b.shots == "" {
		b.shots = filepath.Join(os.TempDir(), "emmett-artifacts")
	}
	b.shots = filepath.Join(b.shots, "console")
	require.NoError(t, os.MkdirAll(b.shots, 0o755))
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s)", m, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

func run[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

func (b *browser) text(t *testing.T, css string) string {
	t.Helper()
	return run(t, b, chromedp.Text(chromedp.CSS(css)))
}

// screenshot saves the page as name.png among the artifacts and, with
// EMMETT_UPDATE_DOCS=1, in docs/console/ for docs/console.md.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	png := run(t, b, chromedp.FullScreenshot(100))
	require.NoError(t, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644))
	if os.Getenv("EMMETT_UPDATE_DOCS") == "1" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "console", name+".png"), png, 0o644))
	}
}

func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Empty(t, b.errors, "the pages logged errors")
}

func TestBrowser(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for i := range 3 {
		appendEvent(t, s, fmt.Sprintf("shopping_cart-ann:%d", i+1), "ProductItemAddedToShoppingCart",
			`{"productId":"shoes","quantity":2,"unitPrice":{"amount":25,"currency":"EUR"}}`,
			emmett.Metadata{CorrelationID: fmt.Sprintf("req-%d", i), Fields: map[string]any{"user": "ann"}})
	}
	var first emmett.RecordedEvent
	for e, err := range s.ReadStream(ctx, "shopping_cart-ann:1") {
		require.NoError(t, err)
		first = e
	}
	parkOne(t, s, "notifications", first)
	procs := s.Processors()
	for v, processor := range []string{"client_summary", "client_summary_v2"} {
		status, collection := projection.VersionRetired, "client_summary"
		if v == 1 {
			status, collection = projection.VersionActive, "client_summary_v2"
		}
		require.NoError(t, procs.Commit(ctx, processor, eventstore.Position{}, eventstore.PositionOf(first),
			func(ctx context.Context, tx projection.Tx) error {
				return procs.SaveProjectionVersion(ctx, tx, projection.ProjectionVersion{Name: "client_summary", Version: v + 1,
					Status: status, Processor: processor, Kind: "document", Collections: []string{collection}})
			}))
	}

	srv := httptest.NewServer(console.New(s, console.WithRefresh(200*time.Millisecond)))
	t.Cleanup(srv.Close)
	b := newBrowser(t)

	t.Run("PagesLoadWithoutErrors", func(t *testing.T) {
		for _, p := range []struct{ path, shot string }{
			{"/processors", ""}, {"/streams", "streams"}, {"/stream?name=shopping_cart-ann:1", "stream"},
			{"/log", ""}, {"/projections", "projections"}, {"/parked", "parked"}, {"/slots", ""},
			{"/search?correlation=req-0", ""},
		} {
			b.do(t, chromedp.Navigate(srv.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			assert.NotEmpty(t, b.text(t, "main h1"), p.path)
			if p.shot != "" {
				b.screenshot(t, p.shot)
			}
		}
		// Keyboard: the first Tab reaches the skip link.
		b.do(t, chromedp.Navigate(srv.URL+"/streams"), chromedp.WaitVisible(chromedp.CSS("main h1")), chromedp.KeyEvent("\t"))
		assert.Equal(t, "Skip to content", run(t, b, chromedp.Evaluate[string](`document.activeElement.textContent`)))
		b.noErrors(t)
	})

	t.Run("NarrowWidth", func(t *testing.T) {
		b.do(t, chromedp.EmulateViewport(375, 740), chromedp.Navigate(srv.URL+"/stream?name=shopping_cart-ann:1"),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
		overflow := run(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
		assert.False(t, overflow, "the page fits 375 px without scrolling sideways")
		b.screenshot(t, "narrow")
		b.do(t, chromedp.EmulateViewport(1200, 900))
		b.noErrors(t)
	})

	t.Run("LiveLog", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/log"), chromedp.WaitVisible(chromedp.CSS("main h1")))
		run(t, b, chromedp.Poll[bool](`document.getElementById("live-state").textContent.startsWith("Live")`, chromedp.WithPollingTimeout(5*time.Second)))
		start := time.Now()
		appendEvent(t, s, "shopping_cart-bob:1", "ShoppingCartOpened", `{"clientId":"bob"}`, emmett.Metadata{})
		run(t, b, chromedp.Poll[bool](`(document.querySelector("#log tbody tr") || {}).textContent.includes("shopping_cart-bob:1")`,
			chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
		took := time.Since(start)
		t.Logf("an appended event appeared in the live log after %v", took)
		assert.Less(t, took, time.Second, "within a second")
		b.screenshot(t, "log")
		b.noErrors(t)
	})

	t.Run("ProcessorLagFalls", func(t *testing.T) {
		const n = 300
		evs := make([]eventstore.EventData, n)
		for i := range evs {
			evs[i] = eventstore.EventData{Type: "Ticked", Data: []byte(`{}`)}
		}
		_, err := s.AppendToStream(ctx, "clock-1", evs)
		require.NoError(t, err)
		require.NoError(t, procs.Commit(ctx, "ticker", eventstore.Position{}, eventstore.PositionOf(first), nil))

		lag := func() int {
			text := b.text(t, `tr[data-id="ticker"] [data-field="lagEvents"]`)
			v, err := strconv.Atoi(strings.TrimSpace(text))
			require.NoError(t, err, text)
			return v
		}
		b.do(t, chromedp.Navigate(srv.URL+"/processors"), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="ticker"]`)))
		before := lag()
		assert.GreaterOrEqual(t, before, n, "the lag shows")

		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		p := projection.NewReactorProcessor(procs, s.Source(projection.PollBatchSize(25), projection.PollInterval(50*time.Millisecond)), "ticker", nil,
			func(context.Context, emmett.RecordedEvent) error { time.Sleep(4 * time.Millisecond); return nil })
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()

		seen := map[int]bool{}
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			v := lag()
			seen[v] = true
			if v == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		assert.True(t, seen[0], "the lag falls to 0: %v", seen)
		assert.Greater(t, len(seen), 2, "through values between: %v", seen)
		run(t, b, chromedp.Poll[bool](`document.querySelector('#lag-legend').textContent.includes("ticker: 0 events behind")`,
			chromedp.WithPollingTimeout(5*time.Second)))
		assert.Equal(t, "running", b.text(t, `tr[data-id="ticker"] [data-field="status"]`))
		points := run(t, b, chromedp.Evaluate[int](`document.querySelector('#lag-chart polyline[data-id="ticker"]').points.length`))
		assert.Greater(t, points, 2, "the chart plots the samples")
		b.screenshot(t, "processors")
		stop()
		require.NoError(t, <-done)
		b.noErrors(t)
	})

	t.Run("ActionRefusedWithoutAuthorizer", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/parked"), chromedp.WaitVisible(chromedp.CSS("main h1")),
			chromedp.Click(chromedp.CSS(`article.parked form[action$="/parked/retry"] button`)),
			chromedp.WaitVisible(chromedp.CSS(".error")))
		body := b.text(t, ".error")
		assert.Contains(t, body, "403")
		assert.Contains(t, body, "read-only")
		b.screenshot(t, "refused")
		parked, err := procs.Parked(ctx, projection.ParkedFilter{Processor: "notifications"})
		require.NoError(t, err)
		require.Len(t, parked, 1)
		assert.False(t, parked[0].RetryRequested, "nothing was asked")
		// The 403 answer is the one error the browser logs (which shows
		// that errors are caught).
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			b.mu.Lock()
			defer b.mu.Unlock()
			for i, e := range b.errors {
				if strings.Contains(e, "403") {
					b.errors = append(b.errors[:i], b.errors[i+1:]...)
					return
				}
			}
			c.Errorf("the browser logged no 403: %v", b.errors)
		}, 5*time.Second, 20*time.Millisecond)
		b.noErrors(t)
	})
}
