package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles the app once per test run.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoppingcart-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "shoppingcart")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binary
}

// app is the running binary.
type app struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
	mu   sync.Mutex
	done chan error
}

var listening = regexp.MustCompile(`"url":"(http://[^"]+)"`)

// start runs the binary with env, serving requests without tokens
// (-no-auth), and waits until it listens.
func start(t *testing.T, env ...string) *app {
	t.Helper()
	return startArgs(t, []string{"-no-auth"}, env...)
}

// startArgs runs the binary with args and env and waits until it listens.
// The checkout workflow appends to the log in the background, after the
// requests that cause it: unless args set a -payment-timeout (the tests
// of orders do), the app runs without it (-checkout=false), so that the
// tests that count the log's events see only those of their requests.
func startArgs(t *testing.T, args []string, env ...string) *app {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-payment-timeout") }) {
		args = append([]string{"-checkout=false"}, args...)
	}
	cmd := exec.Command(build(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	a := &app{cmd: cmd, logs: &strings.Builder{}, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			a.logs.WriteString(line + "\n")
			a.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
		}
		a.done <- cmd.Wait()
	}()
	select {
	case a.url = <-urls:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the app did not start:\n%s", a.output())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return a
}

func (a *app) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs.String()
}

// stop sends SIGTERM and expects a clean exit.
func (a *app) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-a.done:
		require.NoError(t, err, "a clean exit on SIGTERM\n%s", a.output())
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Fatalf("the app did not stop on SIGTERM:\n%s", a.output())
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

func (a *app) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

type event struct {
	Type           string          `json:"type"`
	StreamName     string          `json:"streamName"`
	StreamPosition int64           `json:"streamPosition"`
	Position       string          `json:"position"`
	Data           json.RawMessage `json:"data"`
}

func (a *app) streamEvents(t *testing.T, stream string) []event {
	t.Helper()
	res := a.do(t, http.MethodGet, "/events/streams/"+stream, "")
	if res.status == http.StatusNotFound {
		return nil
	}
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var page struct{ Events []event }
	res.json(t, &page)
	return page.Events
}

func (a *app) allEvents(t *testing.T) []event {
	t.Helper()
	var out []event
	after := ""
	for {
		res := a.do(t, http.MethodGet, "/events/all?limit=100&after="+after, "")
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		var page struct {
			Events    []event
			NextAfter string
		}
		res.json(t, &page)
		out = append(out, page.Events...)
		if len(page.Events) == 0 {
			return out
		}
		after = page.NextAfter
	}
}

// sse reads events from a live endpoint until it has want of them or the
// context ends, resuming after lastID.
func (a *app) sse(ctx context.Context, t *testing.T, path, lastID string, want int) []event {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+path, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", strings.Split(res.Header.Get("Content-Type"), ";")[0])
	var out []event
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && len(out) < want {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var e event
			require.NoError(t, json.Unmarshal([]byte(data), &e))
			out = append(out, e)
		}
	}
	return out
}

const (
	items   = "/clients/ann/shopping-carts/current/product-items"
	current = "/clients/ann/shopping-carts/current"
)

// scenario drives a running app through the API the way a client does.
func scenario(t *testing.T, a *app) {
	res := a.do(t, http.MethodPost, items, `{"productId":"shoes","quantity":2}`)
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	assert.Equal(t, `W/"1"`, res.header.Get("ETag"))

	res = a.do(t, http.MethodPost, items, `{"productId":"socks","quantity":3}`, "If-Match", `W/"1"`)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.Equal(t, `W/"2"`, res.header.Get("ETag"))

	t.Run("ConflictIs412", func(t *testing.T) {
		res := a.do(t, http.MethodPost, items, `{"productId":"hat","quantity":1}`, "If-Match", `W/"1"`)
		assert.Equal(t, http.StatusPreconditionFailed, res.status, "%s", res.body)
		assert.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		assert.Len(t, a.streamEvents(t, "shopping_cart-ann:1"), 2, "nothing appended")
	})
	t.Run("BadJSONIs400", func(t *testing.T) {
		res := a.do(t, http.MethodPost, items, `{"productId":"hat","quantity":`)
		assert.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
		res = a.do(t, http.MethodPost, items, `{"productId":"hat","quantity":1,"discount":99}`)
		assert.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
		assert.Len(t, a.streamEvents(t, "shopping_cart-ann:1"), 2, "nothing appended")
	})
	t.Run("BusinessRuleIs403", func(t *testing.T) {
		res := a.do(t, http.MethodDelete, items+"?productId=socks&quantity=30&unitPrice=3.5", "")
		assert.Equal(t, http.StatusForbidden, res.status, "%s", res.body)
	})

	res = a.do(t, http.MethodGet, current, "")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var details struct {
		ID                string
		ProductItemsCount int
		TotalAmount       float64
		Status            string
	}
	res.json(t, &details)
	assert.Equal(t, "ann:1", details.ID)
	assert.Equal(t, 5, details.ProductItemsCount)
	assert.InDelta(t, 210.5, details.TotalAmount, 0.001)
	assert.Equal(t, `W/"2"`, res.header.Get("ETag"))

	// Live events: a client reads two, drops, and resumes where it was
	// while more commands run; it sees every event once, in order.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := a.sse(ctx, t, "/events/all/live", "", 2)
	require.Len(t, first, 2)

	var wg sync.WaitGroup
	wg.Go(func() {
		for _, body := range []string{`{"productId":"hat","quantity":1}`, `{"productId":"scarf","quantity":2}`} {
			r := a.do(t, http.MethodPost, items, body)
			assert.Less(t, r.status, 300, "%s", r.body)
		}
		r := a.do(t, http.MethodDelete, items+"?productId=socks&quantity=1&unitPrice=3.5", "")
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = a.do(t, http.MethodPost, current+"/confirm", "")
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = a.do(t, http.MethodPost, items, `{"productId":"gloves","quantity":1}`)
		assert.Equal(t, http.StatusCreated, r.status, "a new cart opens after confirming: %s", r.body)
	})
	// Seven more: the socks, the commands below, and the gloves, which
	// open ann's next cart on ann's stream, then are added to it.
	rest := a.sse(ctx, t, "/events/all/live", first[1].Position, 7)
	wg.Wait()
	seen := append(first, rest...)
	all := a.allEvents(t)
	require.Len(t, all, 9)
	require.Len(t, seen, 9, "every event once")
	for i := range all {
		assert.Equal(t, all[i].Position, seen[i].Position, "in order, none repeated")
		assert.Equal(t, all[i].Type, seen[i].Type)
	}
	assert.Equal(t, []string{"client_shopping_carts-ann", "shopping_cart-ann:1"}, []string{all[0].StreamName, all[1].StreamName},
		"ann's first cart is opened on ann's stream, then takes the shoes")
	assert.Equal(t, []string{"client_shopping_carts-ann", "shopping_cart-ann:2"}, []string{all[7].StreamName, all[8].StreamName},
		"after the confirmation, the gloves open ann's next cart")

	// The client summary is asynchronous: wait for the last position.
	res = a.do(t, http.MethodGet, "/clients/ann/shopping-carts/summary", "", "X-Wait-For-Position", all[8].Position)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var summary struct {
		Pending, Confirmed struct {
			CartsCount        int
			ProductItemsCount int
			TotalAmount       float64
		}
	}
	res.json(t, &summary)
	assert.Equal(t, 1, summary.Confirmed.CartsCount)
	assert.Equal(t, 7, summary.Confirmed.ProductItemsCount)
	assert.InDelta(t, 200+7+25+39.98, summary.Confirmed.TotalAmount, 0.001)
	assert.Equal(t, 1, summary.Pending.CartsCount)
	assert.InDelta(t, 12.5, summary.Pending.TotalAmount, 0.001)
}

func TestEndToEndSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "carts.db")
	a := start(t, "EMMETT_SQLITE_PATH="+db, "EMMETT_POSTGRES_URL=")
	scenario(t, a)
	a.stop(t)
	_, err := os.Stat(db)
	require.NoError(t, err, "the database file was created")

	// The data outlives the process.
	a = start(t, "EMMETT_SQLITE_PATH="+db, "EMMETT_POSTGRES_URL=")
	res := a.do(t, http.MethodGet, current, "")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.Contains(t, string(res.body), `"id":"ann:2"`)
	a.stop(t)
}

func TestEndToEndPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := start(t, "EMMETT_POSTGRES_URL="+url)
	assert.Contains(t, a.output(), `"store":"PostgreSQL"`)
	scenario(t, a)
	assert.Contains(t, a.output(), "logical replication", "the summary is fed by logical replication")
	a.stop(t)

	a = start(t, "EMMETT_POSTGRES_URL="+url)
	res := a.do(t, http.MethodGet, current, "")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.Contains(t, string(res.body), `"id":"ann:2"`)
	res = a.do(t, http.MethodPost, items, `{"productId":"hat","quantity":1}`)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var out struct{ Position string }
	res.json(t, &out)
	res = a.do(t, http.MethodGet, "/clients/ann/shopping-carts/summary", "", "X-Wait-For-Position", out.Position)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	assert.Contains(t, string(res.body), `"pending":{"cartsCount":1,"productItemsCount":2`, "the summary resumed from its slot after the restart")
	a.stop(t)
}
