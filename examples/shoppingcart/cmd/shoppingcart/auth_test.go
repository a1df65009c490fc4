package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// token runs the binary to print a token: -token CLIENT, or -events-token.
func token(t *testing.T, keyFile string, args ...string) string {
	t.Helper()
	cmd := exec.Command(build(t), args...)
	cmd.Env = append(os.Environ(), "SHOPPINGCART_KEY_FILE="+keyFile)
	out, err := cmd.Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// TestTokensByDefault runs the binary as it starts by default: every
// request to a client's endpoints needs that client's token, and the event
// feeds need the events token. Anyone could once add to or confirm another
// client's cart, and read every client's events.
func TestTokensByDefault(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys", "app.key")
	env := []string{"EMMETT_SQLITE_PATH=" + filepath.Join(dir, "carts.db"), "EMMETT_POSTGRES_URL=", "SHOPPINGCART_KEY_FILE=" + keyFile}
	a := startArgs(t, nil, env...)
	_, err := os.Stat(keyFile)
	require.NoError(t, err, "the key is created on first use")
	ann, bob, events := token(t, keyFile, "-token", "ann"), token(t, keyFile, "-token", "bob"), token(t, keyFile, "-events-token")
	require.True(t, strings.HasPrefix(ann, "client:ann."), ann)
	auth := func(token string) []string { return []string{"Authorization", "Bearer " + token} }

	t.Run("Writes", func(t *testing.T) {
		res := a.do(t, http.MethodPost, items, `{"productId":"shoes","quantity":1}`)
		assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res.body)
		assert.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		res = a.do(t, http.MethodPost, items, `{"productId":"shoes","quantity":1}`, auth(bob)...)
		assert.Equal(t, http.StatusForbidden, res.status, "bob's token on ann's cart: %s", res.body)
		res = a.do(t, http.MethodPost, items, `{"productId":"shoes","quantity":1}`, auth(events)...)
		assert.Equal(t, http.StatusForbidden, res.status, "the events token on ann's cart: %s", res.body)
		res = a.do(t, http.MethodPost, items, `{"productId":"shoes","quantity":2}`, auth(ann)...)
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)

		res = a.do(t, http.MethodPost, current+"/confirm", "")
		assert.Equal(t, http.StatusUnauthorized, res.status, "%s", res.body)
		res = a.do(t, http.MethodPost, current+"/confirm", "", auth(bob)...)
		assert.Equal(t, http.StatusForbidden, res.status, "%s", res.body)
		res = a.do(t, http.MethodDelete, current, "", auth(bob)...)
		assert.Equal(t, http.StatusForbidden, res.status, "%s", res.body)
		res = a.do(t, http.MethodDelete, items+"?productId=shoes&quantity=1&unitPrice=100", "", auth(bob)...)
		assert.Equal(t, http.StatusForbidden, res.status, "%s", res.body)
	})
	t.Run("Reads", func(t *testing.T) {
		for _, path := range []string{current, "/clients/ann/shopping-carts/summary"} {
			assert.Equal(t, http.StatusUnauthorized, a.do(t, http.MethodGet, path, "").status, path)
			assert.Equal(t, http.StatusForbidden, a.do(t, http.MethodGet, path, "", auth(bob)...).status, path)
		}
		res := a.do(t, http.MethodGet, current, "", auth(ann)...)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		assert.Contains(t, string(res.body), `"productItemsCount":2`, "only ann's own add went in")
	})
	t.Run("EventFeeds", func(t *testing.T) {
		for _, path := range []string{"/events/all", "/events/all/live", "/events/streams/shopping_cart-ann:1", "/events/categories/shopping_cart/live"} {
			res := a.do(t, http.MethodGet, path, "")
			assert.Equal(t, http.StatusUnauthorized, res.status, "%s: %s", path, res.body)
			res = a.do(t, http.MethodGet, path, "", auth(ann)...)
			assert.Equal(t, http.StatusForbidden, res.status, "a client's token does not read the feeds: %s: %s", path, res.body)
		}
		res := a.do(t, http.MethodGet, "/events/all", "", auth(events)...)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		var page struct{ Events []event }
		res.json(t, &page)
		assert.Len(t, page.Events, 2, "ann's cart opened, and her shoes")
	})
	a.stop(t)

	// The key outlives the process, and with it the tokens.
	a = startArgs(t, nil, env...)
	res := a.do(t, http.MethodGet, current, "", auth(ann)...)
	assert.Equal(t, http.StatusOK, res.status, "%s", res.body)
	a.stop(t)

	// -no-auth serves anyone, and says so.
	a = start(t, env...)
	res = a.do(t, http.MethodGet, current, "")
	assert.Equal(t, http.StatusOK, res.status, "%s", res.body)
	res = a.do(t, http.MethodGet, "/events/all", "")
	assert.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.Contains(t, a.output(), "without a token (-no-auth)")
	a.stop(t)
}

// TestReadmeTokens runs the README's session with tokens, as it is
// written, against the binary started as by default, and checks what each
// command gives.
func TestReadmeTokens(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the README's sessions need it")
	}
	const goRun = "go run ./examples/shoppingcart/cmd/shoppingcart"
	cmds := readmeBlock(t, "-token ann")
	for i, cmd := range cmds {
		cmds[i] = strings.ReplaceAll(cmd, goRun, build(t))
	}
	require.Contains(t, strings.Join(cmds, "\n"), build(t)+" -token ann", "the README mints tokens with %s", goRun)
	dir := t.TempDir()
	t.Setenv("SHOPPINGCART_KEY_FILE", filepath.Join(dir, "app.key")) // for the app and the session
	a := startArgs(t, nil, "EMMETT_SQLITE_PATH="+filepath.Join(dir, "carts.db"), "EMMETT_POSTGRES_URL=")
	results := runSession(t, cmds, strings.TrimPrefix(a.url, "http://"))
	a.stop(t)

	var statuses []int
	for _, res := range results {
		require.Zero(t, res.rc, "%s\n%s", res.cmd, res.output)
		switch {
		case strings.HasPrefix(res.cmd, "curl -i "):
			m := statusLine.FindStringSubmatch(res.output)
			require.NotNil(t, m, "a status line:\n%s", res.output)
			status, _ := strconv.Atoi(m[1])
			statuses = append(statuses, status)
		case strings.Contains(res.cmd, "/events/all"):
			var page struct{ Events []event }
			require.NoError(t, json.Unmarshal([]byte(res.output), &page), "%s", res.output)
			assert.Len(t, page.Events, 2, "ann's cart opened, and her hat: nothing of bob's")
		}
	}
	assert.Equal(t, []int{401, 403, 201}, statuses, "the statuses the README's comment announces")
}
