package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	emmettOnce   sync.Once
	emmettBinary string
	emmettErr    error
)

// buildEmmett builds the command-line tool (cmd/emmett) once.
func buildEmmett(t *testing.T) string {
	t.Helper()
	emmettOnce.Do(func() {
		dir, err := os.MkdirTemp("", "emmett-cli")
		if err != nil {
			emmettErr = err
			return
		}
		emmettBinary = filepath.Join(dir, "emmett")
		cmd := exec.Command("go", "build", "-o", emmettBinary, "./cmd/emmett")
		cmd.Dir = filepath.Join("..", "..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			emmettErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, emmettErr)
	return emmettBinary
}

// versionRows returns the client summary's rows of an emmett projections
// listing: status by version.
func versionRows(output string) map[string]string {
	rows := map[string]string{}
	for line := range strings.SplitSeq(output, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "client_shopping_summary" {
			rows[f[1]] = f[2]
		}
	}
	return rows
}

type summaryDoc struct {
	ClientID     string     `json:"clientId"`
	LastActivity *time.Time `json:"lastActivity"`
	Pending      struct {
		CartsCount        int `json:"cartsCount"`
		ProductItemsCount int `json:"productItemsCount"`
	} `json:"pending"`
}

// TestReadmeVersionsSession runs the README's session of a new version of
// the client summary as it is written: the release before (version 1
// only), then this release, which builds version 2 while version 1 serves
// reads and switches to it; the command-line tool's projections and parked
// run on the app's database. make run is the app's binary with the ARGS
// given, go run ./cmd/emmett the tool's, data/versions.db a file of the
// test's.
func TestReadmeVersionsSession(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the README's session needs it")
	}
	cmds := readmeBlock(t, "-summary-version 1")
	db := filepath.Join(t.TempDir(), "versions.db")
	tool := buildEmmett(t)

	var a *app
	defer func() {
		if a != nil {
			a.stop(t)
		}
	}()
	summary := func(t *testing.T, output string) summaryDoc {
		var doc summaryDoc
		require.NoError(t, json.Unmarshal([]byte(output), &doc), "%s", output)
		assert.Equal(t, "cyd", doc.ClientID)
		assert.Equal(t, 1, doc.Pending.CartsCount, "cyd's open cart: %s", output)
		assert.Equal(t, 1, doc.Pending.ProductItemsCount, "her hat: %s", output)
		return doc
	}
	releases, summaries, listings := 0, 0, 0
	for _, cmd := range cmds {
		cmd = strings.ReplaceAll(cmd, "data/versions.db", db)
		if args, ok := strings.CutPrefix(cmd, "make run ARGS="); ok {
			if a != nil {
				a.stop(t)
			}
			a = startArgs(t, strings.Fields(strings.Trim(args, `"`)), "EMMETT_POSTGRES_URL=")
			releases++
			if releases == 2 {
				// Version 1 serves reads until version 2 has caught up, then
				// version 2: the summary is there all along.
				require.Eventually(t, func() bool {
					res := a.do(t, http.MethodGet, "/clients/cyd/shopping-carts/summary", "")
					require.Equal(t, http.StatusOK, res.status, "the summary is served while version 2 builds: %s", res.body)
					return summary(t, string(res.body)).LastActivity != nil
				}, 30*time.Second, 10*time.Millisecond, "version 2 serves reads once it has caught up")
			}
			continue
		}
		cmd = strings.ReplaceAll(cmd, "go run ./cmd/emmett", tool)
		require.NotNil(t, a, "the app runs before %s", cmd)
		u, err := url.Parse(a.url)
		require.NoError(t, err)
		res := runSession(t, []string{cmd}, u.Host)[0]
		require.Zero(t, res.rc, "%s\n%s", cmd, res.output)
		switch {
		case strings.HasPrefix(cmd, "curl -s -X POST"):
			assert.Contains(t, res.output, `"position"`)
		case strings.Contains(cmd, "/shopping-carts/summary"):
			summaries++
			doc := summary(t, res.output)
			if summaries == 1 {
				assert.Nil(t, doc.LastActivity, "version 1 has no lastActivity: %s", res.output)
			} else {
				assert.NotNil(t, doc.LastActivity, "version 2 has lastActivity: %s", res.output)
			}
		case strings.HasSuffix(cmd, " parked"):
			assert.NotContains(t, res.output, "client_shopping_summary", "nothing parked:\n%s", res.output)
		case strings.Contains(cmd, "-drop-version 1"):
			assert.Contains(t, res.output, "dropped", "%s", res.output)
		case strings.HasSuffix(cmd, " projections"):
			listings++
			want := []map[string]string{
				{"1": "active"},
				{"1": "inactive", "2": "active"},
				{"2": "active"},
			}[listings-1]
			assert.Equal(t, want, versionRows(res.output), "listing %d:\n%s", listings, res.output)
		default:
			t.Errorf("the test does not check this command of the README: %s", cmd)
		}
	}
	assert.Equal(t, 2, releases)
	assert.Equal(t, 2, summaries)
	assert.Equal(t, 3, listings)
}
