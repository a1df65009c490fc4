package console_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emmett-go/emmett/console"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// screenshot saves the page among the artifacts and, with
// EMMETT_UPDATE_DOCS=1, in docs/console/ for docs/console.md.
func screenshot(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	png := b.Screenshot(t, name)
	if os.Getenv("EMMETT_UPDATE_DOCS") == "1" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "console", name+".png"), png, 0o644))
	}
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
	b := browsertest.New(t)

	t.Run("PagesLoadWithoutErrors", func(t *testing.T) {
		for _, p := range []struct{ path, shot string }{
			{"/processors", ""}, {"/streams", "streams"}, {"/stream?name=shopping_cart-ann:1", "stream"},
			{"/log", ""}, {"/projections", "projections"}, {"/parked", "parked"}, {"/slots", ""},
			{"/search?correlation=req-0", ""},
		} {
			b.Do(t, chromedp.Navigate(srv.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			assert.NotEmpty(t, b.Text(t, "main h1"), p.path)
			if p.shot != "" {
				screenshot(t, b, p.shot)
			}
		}
		// Keyboard: the first Tab reaches the skip link.
		b.Do(t, chromedp.Navigate(srv.URL+"/streams"), chromedp.WaitVisible(chromedp.CSS("main h1")), chromedp.KeyEvent("\t"))
		assert.Equal(t, "Skip to content", browsertest.Run(t, b, chromedp.Evaluate[string](`document.activeElement.textContent`)))
		b.NoErrors(t)
	})

	t.Run("NarrowWidth", func(t *testing.T) {
		b.Do(t, chromedp.EmulateViewport(375, 740), chromedp.Navigate(srv.URL+"/stream?name=shopping_cart-ann:1"),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
		overflow := browsertest.Run(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
		assert.False(t, overflow, "the page fits 375 px without scrolling sideways")
		screenshot(t, b, "narrow")
		b.Do(t, chromedp.EmulateViewport(1200, 900))
		b.NoErrors(t)
	})

	t.Run("LiveLog", func(t *testing.T) {
		b.Do(t, chromedp.Navigate(srv.URL+"/log"), chromedp.WaitVisible(chromedp.CSS("main h1")))
		browsertest.Run(t, b, chromedp.Poll[bool](`document.getElementById("live-state").textContent.startsWith("Live")`, chromedp.WithPollingTimeout(5*time.Second)))
		start := time.Now()
		appendEvent(t, s, "shopping_cart-bob:1", "ShoppingCartOpened", `{"clientId":"bob"}`, emmett.Metadata{})
		browsertest.Run(t, b, chromedp.Poll[bool](`(document.querySelector("#log tbody tr") || {}).textContent.includes("shopping_cart-bob:1")`,
			chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
		took := time.Since(start)
		t.Logf("an appended event appeared in the live log after %v", took)
		assert.Less(t, took, time.Second, "within a second")
		screenshot(t, b, "log")
		b.NoErrors(t)
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
			text := b.Text(t, `tr[data-id="ticker"] [data-field="lagEvents"]`)
			v, err := strconv.Atoi(strings.TrimSpace(text))
			require.NoError(t, err, text)
			return v
		}
		b.Do(t, chromedp.Navigate(srv.URL+"/processors"), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="ticker"]`)))
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
		browsertest.Run(t, b, chromedp.Poll[bool](`document.querySelector('#lag-legend').textContent.includes("ticker: 0 events behind")`,
			chromedp.WithPollingTimeout(5*time.Second)))
		assert.Equal(t, "running", b.Text(t, `tr[data-id="ticker"] [data-field="status"]`))
		points := browsertest.Run(t, b, chromedp.Evaluate[int](`document.querySelector('#lag-chart polyline[data-id="ticker"]').points.length`))
		assert.Greater(t, points, 2, "the chart plots the samples")
		screenshot(t, b, "processors")
		stop()
		require.NoError(t, <-done)
		b.NoErrors(t)
	})

	t.Run("ActionRefusedWithoutAuthorizer", func(t *testing.T) {
		b.Do(t, chromedp.Navigate(srv.URL+"/parked"), chromedp.WaitVisible(chromedp.CSS("main h1")),
			chromedp.Click(chromedp.CSS(`article.parked form[action$="/parked/retry"] button`)),
			chromedp.WaitVisible(chromedp.CSS(".error")))
		body := b.Text(t, ".error")
		assert.Contains(t, body, "403")
		assert.Contains(t, body, "read-only")
		screenshot(t, b, "refused")
		parked, err := procs.Parked(ctx, projection.ParkedFilter{Processor: "notifications"})
		require.NoError(t, err)
		require.Len(t, parked, 1)
		assert.False(t, parked[0].RetryRequested, "nothing was asked")
		// The 403 answer is the one error the browser logs (which shows
		// that errors are caught).
		b.Expect(t, "403")
		b.NoErrors(t)
	})
}
