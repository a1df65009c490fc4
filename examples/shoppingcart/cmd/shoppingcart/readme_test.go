package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeSession returns the commands of the README's curl session: the sh
// block that runs the sample app's API, one command a line.
func readmeSession(t *testing.T) []string {
	t.Helper()
	return readmeBlock(t, "localhost:8080/clients/")
}

// readmeBlock returns the commands of the README's first sh block that
// holds marker, one command a line.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "README.md"))
	require.NoError(t, err)
	for block := range strings.SplitSeq(string(data), "```sh\n") {
		block, _, closed := strings.Cut(block, "```")
		if !closed || !strings.Contains(block, marker) {
			continue
		}
		var cmds []string
		for line := range strings.SplitSeq(block, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			require.False(t, strings.HasSuffix(line, `\`), "one command a line: %s", line)
			cmds = append(cmds, line)
		}
		return cmds
	}
	t.Fatalf("README.md has no sh block with %q", marker)
	return nil
}

var (
	assignment = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=`)
	statusLine = regexp.MustCompile(`(?m)^HTTP/[0-9.]+ ([0-9]{3})`)
)

// sessionResult is what one command of the session did.
type sessionResult struct {
	cmd    string
	rc     int
	output string
	value  string // the variable's value, for an assignment
}

// runSession runs the commands in one bash, against base instead of
// localhost:8080. A live stream (curl -N) is stopped after a few seconds,
// as the reader would with Ctrl-C.
func runSession(t *testing.T, cmds []string, base string) []sessionResult {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -o pipefail\n")
	for i, cmd := range cmds {
		run := strings.ReplaceAll(cmd, "localhost:8080", base)
		if strings.HasPrefix(run, "curl -N ") {
			run = "curl --max-time 3 " + strings.TrimPrefix(run, "curl ")
		}
		fmt.Fprintf(&script, "%s\nrc=$?\n", run)
		if m := assignment.FindStringSubmatch(cmd); m != nil {
			fmt.Fprintf(&script, "printf '\\n@@@value %%s\\n' \"$%s\"\n", m[1])
		}
		fmt.Fprintf(&script, "printf '\\n@@@end %d %%d\\n' \"$rc\"\n", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bash := exec.CommandContext(ctx, "bash", "-s")
	bash.Stdin = strings.NewReader(script.String())
	var stdout, stderr bytes.Buffer
	bash.Stdout, bash.Stderr = &stdout, &stderr
	require.NoError(t, bash.Run(), "the session:\n%s\nstderr:\n%s", script.String(), stderr.String())

	out := stdout.String()
	results := make([]sessionResult, len(cmds))
	for i, cmd := range cmds {
		res := sessionResult{cmd: cmd}
		end := regexp.MustCompile(`\n@@@end ` + strconv.Itoa(i) + ` ([0-9]+)\n`)
		loc := end.FindStringSubmatchIndex(out)
		require.NotNil(t, loc, "command %d (%s) ended\noutput:\n%s\nstderr:\n%s", i, cmd, out, stderr.String())
		res.rc, _ = strconv.Atoi(out[loc[2]:loc[3]])
		res.output = out[:loc[0]]
		if before, value, ok := strings.Cut(res.output, "\n@@@value "); ok {
			res.output, res.value = before, value
		}
		out = out[loc[1]:]
		results[i] = res
	}
	return results
}

// TestReadmeCurlSession runs the README's curl session, as it is written,
// against the real binary on a SQLite database, and checks what each
// command gives. Another client's cart comes first, so that the positions
// in the log are not those of a fresh database.
func TestReadmeCurlSession(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the README's curl session needs it")
	}
	_, err := exec.LookPath("bash")
	require.NoError(t, err, "the README's curl session runs in bash")
	cmds := readmeSession(t)

	a := start(t, "EMMETT_SQLITE_PATH="+filepath.Join(t.TempDir(), "carts.db"), "EMMETT_POSTGRES_URL=")
	u, err := url.Parse(a.url)
	require.NoError(t, err)
	res := a.do(t, http.MethodPost, "/clients/bob/shopping-carts/current/product-items", `{"productId":"hat","quantity":1}`)
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	results := runSession(t, cmds, u.Host)
	all := a.allEvents(t)
	a.stop(t)

	require.Len(t, all, 7, "bob's cart opened and his hat, then ann's cart opened, two products added, a sock removed, the cart confirmed")
	var streams, types []string
	for _, e := range all[2:] {
		streams = append(streams, e.StreamName)
		types = append(types, e.Type)
	}
	confirmed := all[6]
	assert.Equal(t, []string{"client_shopping_carts-ann", "shopping_cart-ann:1", "shopping_cart-ann:1",
		"shopping_cart-ann:1", "shopping_cart-ann:1"}, streams)
	assert.Equal(t, []string{"ShoppingCartOpened", "ProductItemAddedToShoppingCart", "ProductItemAddedToShoppingCart",
		"ProductItemRemovedFromShoppingCart", "ShoppingCartConfirmed"}, types)

	// The statuses the README's comments announce, in order.
	wantStatuses := []int{201, 200, 412, 200}
	var statuses []int
	for _, res := range results {
		t.Run(res.cmd, func(t *testing.T) {
			cmd := res.cmd
			if strings.HasPrefix(cmd, "curl -N ") {
				assert.Equal(t, 28, res.rc, "the live stream runs until stopped (curl's timeout)")
				data := 0
				for line := range strings.SplitSeq(res.output, "\n") {
					if strings.HasPrefix(line, "data: ") {
						data++
					}
				}
				assert.Equal(t, len(all), data, "every event, live:\n%s", res.output)
				return
			}
			require.Zero(t, res.rc, "the command succeeds\noutput:\n%s", res.output)
			switch {
			case strings.HasPrefix(cmd, "J="):
			case strings.HasPrefix(cmd, "curl -i "):
				m := statusLine.FindStringSubmatch(res.output)
				require.NotNil(t, m, "a status line:\n%s", res.output)
				status, _ := strconv.Atoi(m[1])
				statuses = append(statuses, status)
				if status == 412 {
					assert.Contains(t, res.output, "Content-Type: application/problem+json")
				}
			case strings.HasPrefix(cmd, "POS="):
				assert.Equal(t, confirmed.Position, strings.TrimSpace(res.value), "the confirmation's position")
			case strings.HasSuffix(cmd, "/shopping-carts/current"):
				var details struct {
					ID                string  `json:"id"`
					ProductItemsCount int     `json:"productItemsCount"`
					TotalAmount       float64 `json:"totalAmount"`
					Status            string  `json:"status"`
				}
				require.NoError(t, json.Unmarshal([]byte(res.output), &details), "%s", res.output)
				assert.Equal(t, "ann:1", details.ID)
				assert.Equal(t, "Opened", details.Status)
				assert.Equal(t, 4, details.ProductItemsCount, "2 shoes and 2 socks")
				assert.InDelta(t, 207, details.TotalAmount, 0.001)
			case strings.Contains(cmd, "/shopping-carts/summary"):
				res.output = withoutLastActivity(t, res.output)
				assert.JSONEq(t, `{"clientId":"ann",
					"pending":{"cartsCount":0,"productItemsCount":0,"totalAmount":0},
					"confirmed":{"cartsCount":1,"productItemsCount":4,"totalAmount":207},
					"cancelled":{"cartsCount":0,"productItemsCount":0,"totalAmount":0}}`, res.output,
					"the summary has caught up with the confirmation")
			case strings.HasSuffix(cmd, "/events/all"):
				var page struct{ Events []event }
				require.NoError(t, json.Unmarshal([]byte(res.output), &page), "%s", res.output)
				assert.Len(t, page.Events, len(all))
			default:
				t.Errorf("the test does not check this command of the README; add a check")
			}
		})
	}
	assert.Equal(t, wantStatuses, statuses, "the statuses of the curl -i commands")
}

// withoutLastActivity returns a client summary's JSON without its
// lastActivity, which version 2 of the summary has (as a time) and
// version 1 has not: which of them serves reads on a new database depends
// on which processor records its version first.
func withoutLastActivity(t *testing.T, summary string) string {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(summary), &doc), "%s", summary)
	if at, ok := doc["lastActivity"]; ok {
		_, err := time.Parse(time.RFC3339Nano, fmt.Sprint(at))
		require.NoError(t, err, "lastActivity is a time")
		delete(doc, "lastActivity")
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return string(out)
}
