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

// readmeAppSession runs the README's sh block that holds marker, as it is
// written, against the real binaries: "make run ARGS=..." (re)starts the
// app (then started runs, with the count of starts so far), "go run
// ./cmd/emmett" is the tool's binary and "go run
// ./examples/shoppingcart/cmd/shoppingcart" the app's; files are renamed as
// in files. check gets every other command, after it ran and succeeded,
// with the tool's path in it. It returns the app, still running: stop it
// (a failed test kills it).
func readmeAppSession(t *testing.T, marker string, files map[string]string, started func(a *app, starts int), check func(cmd string, res sessionResult)) *app {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the README's session needs it")
	}
	tool, appBinary := buildEmmett(t), build(t)
	var a *app
	starts := 0
	for _, cmd := range readmeBlock(t, marker) {
		for from, to := range files {
			cmd = strings.ReplaceAll(cmd, from, to)
		}
		if args, ok := strings.CutPrefix(cmd, "make run ARGS="); ok {
			if a != nil {
				a.stop(t)
			}
			a = startArgs(t, strings.Fields(strings.Trim(args, `"`)), "EMMETT_POSTGRES_URL=")
			starts++
			if started != nil {
				started(a, starts)
			}
			continue
		}
		cmd = strings.ReplaceAll(cmd, "go run ./cmd/emmett", tool)
		cmd = strings.ReplaceAll(cmd, "go run ./examples/shoppingcart/cmd/shoppingcart", appBinary)
		require.NotNil(t, a, "the app runs before %s", cmd)
		u, err := url.Parse(a.url)
		require.NoError(t, err)
		res := runSession(t, []string{cmd}, u.Host)[0]
		require.Zero(t, res.rc, "%s\n%s", cmd, res.output)
		check(cmd, res)
	}
	return a
}

// TestReadmeVersionsSession runs the README's session of a new version of
// the client summary as it is written: the release before (version 1
// only), then this release, which builds version 2 while version 1 serves
// reads and switches to it; the command-line tool's projections and parked
// run on the app's database. make run is the app's binary with the ARGS
// given, go run ./cmd/emmett the tool's, data/versions.db a file of the
// test's.
func TestReadmeVersionsSession(t *testing.T) {
	summary := func(t *testing.T, output string) summaryDoc {
		var doc summaryDoc
		require.NoError(t, json.Unmarshal([]byte(output), &doc), "%s", output)
		assert.Equal(t, "cyd", doc.ClientID)
		assert.Equal(t, 1, doc.Pending.CartsCount, "cyd's open cart: %s", output)
		assert.Equal(t, 1, doc.Pending.ProductItemsCount, "her hat: %s", output)
		return doc
	}
	releases, summaries, listings := 0, 0, 0
	started := func(a *app, starts int) {
		releases = starts
		if starts == 2 {
			// Version 1 serves reads until version 2 has caught up, then
			// version 2: the summary is there all along.
			require.Eventually(t, func() bool {
				res := a.do(t, http.MethodGet, "/clients/cyd/shopping-carts/summary", "")
				require.Equal(t, http.StatusOK, res.status, "the summary is served while version 2 builds: %s", res.body)
				return summary(t, string(res.body)).LastActivity != nil
			}, 30*time.Second, 10*time.Millisecond, "version 2 serves reads once it has caught up")
		}
	}
	db := filepath.Join(t.TempDir(), "versions.db")
	readmeAppSession(t, "-summary-version 1", map[string]string{"data/versions.db": db}, started, func(cmd string, res sessionResult) {
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
	}).stop(t)
	assert.Equal(t, 2, releases)
	assert.Equal(t, 2, summaries)
	assert.Equal(t, 3, listings)
}

// TestReadmeUpcastingSession runs the README's session of events that
// change as it is written: a version 1 event appended beside the app's
// version 2 ones is read by the decider (the removal of a hat it added
// succeeds), printed upcast by the app's build of the tool, as stored with
// -raw, and passes the check. go run ./examples/shoppingcart/cmd/shoppingcart
// is the app's binary, go run ./cmd/emmett the tool's, data/upcast.db a
// file of the test's.
func TestReadmeUpcastingSession(t *testing.T) {
	type shown struct {
		Type          string `json:"type"`
		SchemaVersion int    `json:"schemaVersion"`
		Data          struct {
			ProductItem struct {
				ProductID string          `json:"productId"`
				UnitPrice json.RawMessage `json:"unitPrice"`
			} `json:"productItem"`
		} `json:"data"`
	}
	events := func(t *testing.T, output string) []string {
		var out []string
		for line := range strings.SplitSeq(strings.TrimSpace(output), "\n") {
			var e shown
			require.NoError(t, json.Unmarshal([]byte(line), &e), line)
			out = append(out, fmt.Sprintf("%s v%d %s %s", e.Type, e.SchemaVersion, e.Data.ProductItem.ProductID, e.Data.ProductItem.UnitPrice))
		}
		return out
	}
	reads, checked := 0, false
	db := filepath.Join(t.TempDir(), "upcast.db")
	a := readmeAppSession(t, "data/upcast.db", map[string]string{"data/upcast.db": db}, nil, func(cmd string, res sessionResult) {
		switch {
		case strings.HasPrefix(cmd, "curl -s -X POST"), strings.HasPrefix(cmd, "curl -s -X DELETE"):
			assert.Contains(t, res.output, `"position"`, "%s: %s", cmd, res.output)
		case strings.Contains(cmd, " append "):
			assert.Contains(t, res.output, `"nextExpectedVersion":2`)
		case strings.HasSuffix(cmd, " read shopping_cart-dan:1"):
			reads++
			assert.Equal(t, []string{
				`ProductItemAddedToShoppingCart v2 shoes {"amount":100,"currency":"EUR"}`,
				`ProductItemAddedToShoppingCart v2 hat {"amount":25,"currency":"EUR"}`,
				`ProductItemRemovedFromShoppingCart v2 hat {"amount":25,"currency":"EUR"}`,
			}, events(t, res.output), "upcast")
		case strings.HasSuffix(cmd, " read shopping_cart-dan:1 -raw"):
			reads++
			assert.Equal(t, []string{
				`ProductItemAddedToShoppingCart v2 shoes {"amount":100,"currency":"EUR"}`,
				`ProductItemAddedToShoppingCart v1 hat 25`,
				`ProductItemRemovedFromShoppingCart v2 hat {"amount":25,"currency":"EUR"}`,
			}, events(t, res.output), "as stored")
		case strings.HasSuffix(cmd, " check"):
			checked = true
			assert.Contains(t, res.output, "every one is of a type and version the registry reads")
		default:
			t.Errorf("the test does not check this command of the README: %s", cmd)
		}
	})
	assert.Equal(t, 2, reads)
	assert.True(t, checked)

	// The app's event feed serves the version 1 event as version 2.
	feed := a.streamEvents(t, "shopping_cart-dan:1")
	require.Len(t, feed, 3)
	assert.JSONEq(t, `{"productId":"hat","quantity":2,"unitPrice":{"amount":25,"currency":"EUR"}}`,
		string(mustField(t, feed[1].Data, "productItem")), "the feed serves the current version")
	a.stop(t)
}

// mustField returns the raw JSON of an object's field.
func mustField(t *testing.T, object json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(object, &fields))
	require.Contains(t, fields, name)
	return fields[name]
}
