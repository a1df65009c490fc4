// Package browsertest runs a headless Chromium for tests that drive pages
// in a real browser, with github.com/chromedp/chromedp: Debian's chromium
// (apt-get install chromium; .ci/run installs it). Without one the test is
// skipped, but fails under CI (CI set) or EMMETT_REQUIRE_BROWSER=1.
//
//	b := browsertest.New(t)
//	b.Do(t, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS("h1")))
//	assert.Equal(t, "Carts", b.Text(t, "h1"))
//	b.Screenshot(t, "carts")
//	b.NoErrors(t) // nothing logged to the console, no exception, no failed load
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// EnvRequire, set to 1, makes a missing browser fail the test rather than
// skip it, as CI does (CI set).
const EnvRequire = "EMMETT_REQUIRE_BROWSER"

// EnvArtifacts names the directory screenshots are saved in (the
// temporary directory's emmett-artifacts when unset).
const EnvArtifacts = "EMMETT_ARTIFACTS"

// Timeout bounds each of Do, Run and Text.
const Timeout = 20 * time.Second

// Chromium returns the path of Debian's chromium (or chromium-browser, or
// google-chrome). Without one it skips the test, or fails it under CI or
// EMMETT_REQUIRE_BROWSER=1.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" || os.Getenv(EnvRequire) == "1" {
		t.Fatal("browsertest: no chromium on PATH: the browser tests need it (apt-get install chromium)")
	}
	t.Skip("browsertest: no chromium on PATH: apt-get install chromium to run the browser tests")
	return ""
}

// Browser is a tab of a headless Chromium that records what its pages log
// as errors: console errors and warnings, uncaught exceptions, failed
// loads, Content-Security-Policy violations.
type Browser struct {
	ctx    context.Context
	mu     sync.Mutex
	logged []string
	shots  string
}

// New starts a headless Chromium (1200 x 900, without the sandbox, which
// root cannot have) for the test, stopped when it ends; screenshots go to
// $EMMETT_ARTIFACTS/name (see Screenshot), name being the test's top
// name.
func New(t testing.TB) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1200, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "emmett-artifacts")
	}
	b := &Browser{ctx: ctx, shots: filepath.Join(dir, strings.SplitN(t.Name(), "/", 2)[0])}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				b.mu.Lock()
				b.logged = append(b.logged, fmt.Sprintf("%s (%s)", m, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// Context is the tab's context, for chromedp calls of one's own.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs steps in the tab, failing the test on an error.
func (b *Browser) Do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// Run runs an action that gives a value, failing the test on an error.
func Run[T any](t testing.TB, b *Browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// Text returns the text of the first element the CSS selector matches.
func (b *Browser) Text(t testing.TB, css string) string {
	t.Helper()
	return Run(t, b, chromedp.Text(chromedp.CSS(css)))
}

// Screenshot saves the whole page as name.png among the artifacts and
// returns the PNG.
func (b *Browser) Screenshot(t testing.TB, name string) []byte {
	t.Helper()
	png := Run(t, b, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	require.NoError(t, os.MkdirAll(b.shots, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644))
	return png
}

// Logged returns what the pages logged as errors so far.
func (b *Browser) Logged() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logged...)
}

// Expect waits up to 5 s for a logged error containing text, which the
// test expects (a refused request's status), and forgets it; the test
// fails if none comes.
func (b *Browser) Expect(t testing.TB, text string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, e := range b.logged {
			if strings.Contains(e, text) {
				b.logged = append(b.logged[:i], b.logged[i+1:]...)
				return
			}
		}
		c.Errorf("the pages logged no error with %q: %v", text, b.logged)
	}, 5*time.Second, 20*time.Millisecond)
}

// NoErrors fails the test if the pages logged errors.
func (b *Browser) NoErrors(t testing.TB) {
	t.Helper()
	assert.Empty(t, b.Logged(), "the pages logged errors")
}
