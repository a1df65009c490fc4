package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/emmett-go/emmett/testing/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/":
			_, _ = w.Write([]byte(`<!doctype html><title>t</title><link rel="icon" href="data:,"><h1>Hello</h1>`))
		case "/broken":
			_, _ = w.Write([]byte(`<!doctype html><title>t</title><link rel="icon" href="data:,"><h1>Broken</h1><script>console.error("boom")</script>`))
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv(browsertest.EnvArtifacts, t.TempDir())
	b := browsertest.New(t)

	b.Do(t, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS("h1")))
	assert.Equal(t, "Hello", b.Text(t, "h1"))
	png := b.Screenshot(t, "hello")
	assert.Equal(t, "\x89PNG", string(png[:4]))
	saved, err := os.ReadFile(filepath.Join(os.Getenv(browsertest.EnvArtifacts), "TestBrowser", "hello.png"))
	require.NoError(t, err)
	assert.Equal(t, png, saved)
	b.NoErrors(t)

	b.Do(t, chromedp.Navigate(srv.URL+"/broken"), chromedp.WaitVisible(chromedp.CSS("h1")))
	b.Expect(t, "boom")
	b.NoErrors(t)
}
