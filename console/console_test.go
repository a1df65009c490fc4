package console_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/console"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func appendEvent(t testing.TB, s eventstore.Store, stream, typ, data string, md emmett.Metadata) eventstore.AppendResult {
	t.Helper()
	res, err := s.AppendToStream(context.Background(), stream, []eventstore.EventData{{Type: typ, Data: []byte(data)}}, eventstore.WithMetadata(md))
	require.NoError(t, err)
	return res
}

// parkOne parks the event at pos for processor, moving its checkpoint
// there, as a processor with ParkOnFailure does.
func parkOne(t testing.TB, s *sqlite.Store, processor string, e emmett.RecordedEvent) int64 {
	t.Helper()
	ctx := context.Background()
	procs := s.Processors()
	from, _, err := procs.ReadCheckpoint(ctx, processor)
	require.NoError(t, err)
	require.NoError(t, procs.Commit(ctx, processor, from, eventstore.PositionOf(e), func(ctx context.Context, tx projection.Tx) error {
		return procs.Park(ctx, tx, projection.ParkedEvent{Processor: processor, Event: e, Error: "boom: no such product", Attempts: 3,
			FirstFailure: time.Now(), LastFailure: time.Now()})
	}))
	parked, err := procs.Parked(ctx, projection.ParkedFilter{Processor: processor})
	require.NoError(t, err)
	require.NotEmpty(t, parked)
	return parked[len(parked)-1].ID
}

func get(t testing.TB, h http.Handler, target string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func post(h http.Handler, target string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPages(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	first := appendEvent(t, s, "shopping_cart-ann:1", "ProductItemAdded", `{"productId":"shoes","quantity":2}`,
		emmett.Metadata{CorrelationID: "corr-1", Fields: map[string]any{"tenant": "acme"}})
	var firstEvent emmett.RecordedEvent
	for e, err := range s.ReadStream(ctx, "shopping_cart-ann:1") {
		require.NoError(t, err)
		firstEvent = e
	}
	appendEvent(t, s, "shopping_cart-ann:1", "ShoppingCartConfirmed", `{"at":"2026-01-02"}`,
		emmett.Metadata{CorrelationID: "corr-1", CausationID: firstEvent.MessageID})
	appendEvent(t, s, "client-bob", "ClientJoined", `{}`, emmett.Metadata{})
	require.NoError(t, s.Processors().Commit(ctx, "summary", eventstore.Position{}, first.Position, nil))
	parkOne(t, s, "reactor", firstEvent)

	_, err := s.Membership().Heartbeat(ctx, "shop", projection.Instance{ID: "instance-a", Processors: []string{"summary", "reactor"}}, time.Minute)
	require.NoError(t, err)

	h := console.New(s)
	code, body := get(t, h, "/streams?prefix=shopping_cart-")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "shopping_cart-ann:1")
	assert.NotContains(t, body, "client-bob", "the prefix filters")
	assert.Contains(t, body, `<label for="prefix">`, "labelled controls")

	code, body = get(t, h, "/stream?name=shopping_cart-ann:1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "{\n  &#34;productId&#34;: &#34;shoes&#34;,\n  &#34;quantity&#34;: 2\n}", "pretty-printed JSON")
	assert.Contains(t, body, "/search?correlation=corr-1&amp;near=1", "the correlation id links to its events")
	assert.Contains(t, body, "/search?message="+firstEvent.MessageID+"&amp;near=2", "the causation id links to its cause")
	assert.Contains(t, body, "&#34;tenant&#34;: &#34;acme&#34;", "the metadata's fields")

	code, body = get(t, h, "/search?correlation=corr-1&near=1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "ProductItemAdded")
	assert.Contains(t, body, "ShoppingCartConfirmed")
	assert.NotContains(t, body, "ClientJoined")
	code, body = get(t, h, "/search?message="+firstEvent.MessageID+"&near=2")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "ProductItemAdded")
	assert.NotContains(t, body, "ShoppingCartConfirmed")

	code, body = get(t, h, "/log")
	require.Equal(t, http.StatusOK, code, body)
	assert.Regexp(t, `(?s)ClientJoined.*ShoppingCartConfirmed.*ProductItemAdded`, body, "newest first")
	assert.Contains(t, body, `data-live-after="3"`)

	code, body = get(t, h, "/processors")
	require.Equal(t, http.StatusOK, code, body)
	assert.Regexp(t, `(?s)<tr data-id="summary">.*data-field="lagEvents">2<`, body, "two events behind the head")
	assert.Contains(t, body, "<td>shop</td><td>instance-a</td><td>summary, reactor</td>", "the live instances of every group")

	code, body = get(t, h, "/parked")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "boom: no such product")
	assert.Contains(t, body, `action="/parked/retry"`)

	code, body = get(t, h, "/slots")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Replication slots are PostgreSQL")

	code, _ = get(t, h, "/stream?name=")
	assert.Equal(t, http.StatusBadRequest, code)

	r := httptest.NewRequest(http.MethodGet, "/api/processors", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `"id":"summary"`)
	assert.Contains(t, w.Body.String(), `"lagEvents":2`)
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'self'")
}

func TestStreamPagination(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var want []string
	for i := range 120 {
		name := fmt.Sprintf("cart-%03d", i)
		want = append(want, name)
		_, err := s.AppendToStream(ctx, name, []eventstore.EventData{{Type: "Opened", Data: []byte(`{}`)}})
		require.NoError(t, err)
	}
	h := console.New(s, console.WithPrefix("/ops"))
	link := regexp.MustCompile(`href="/ops/stream\?name=(cart-\d+)`)
	next := regexp.MustCompile(`rel="next" href="(/ops/streams\?[^"]+)"`)
	var got []string
	target, pages := "/streams?prefix=cart-", 0
	for target != "" {
		code, body := get(t, h, strings.TrimPrefix(target, "/ops"))
		require.Equal(t, http.StatusOK, code, body)
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		target = ""
		if m := next.FindStringSubmatch(body); m != nil {
			target = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		pages++
	}
	assert.Equal(t, 3, pages)
	assert.Equal(t, want, got, "every stream once, in order, over the pages")
}

func TestActionsNeedAnAuthorizer(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	appendEvent(t, s, "cart-1", "Opened", `{}`, emmett.Metadata{})
	var e emmett.RecordedEvent
	for ev, err := range s.ReadStream(ctx, "cart-1") {
		require.NoError(t, err)
		e = ev
	}
	id := parkOne(t, s, "reactor", e)
	form := url.Values{"processor": {"reactor"}, "id": {fmt.Sprint(id)}}
	parked := func() projection.ParkedEvent {
		ps, err := s.Processors().Parked(ctx, projection.ParkedFilter{ID: id})
		require.NoError(t, err)
		require.Len(t, ps, 1)
		return ps[0]
	}

	readOnly := console.New(s)
	w := post(readOnly, "/parked/retry", form)
	assert.Equal(t, http.StatusForbidden, w.Code, "read-only without an authorizer")
	assert.Contains(t, w.Body.String(), "read-only")
	w = post(readOnly, "/parked/discard", form)
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.False(t, parked().RetryRequested, "nothing changed")
	code, _ := get(t, readOnly, "/parked/retry?"+form.Encode())
	assert.Equal(t, http.StatusMethodNotAllowed, code, "no GET changes anything")

	var asked []console.Action
	admin := console.New(s, console.WithAuthorizer(func(r *http.Request, a console.Action) error {
		asked = append(asked, a)
		switch r.Header.Get("Authorization") {
		case "Bearer admin":
			return nil
		case "":
			if a.IsView() {
				return nil
			}
			return httpapi.ErrUnauthorized
		}
		return errors.New("not an admin")
	}))
	assert.Equal(t, http.StatusUnauthorized, post(admin, "/parked/retry", form).Code)
	assert.Equal(t, http.StatusForbidden, post(admin, "/parked/retry", form, "Authorization", "Bearer bob").Code)
	w = post(admin, "/parked/retry", form, "Authorization", "Bearer admin", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, w.Code, "a cross-site request is refused, whoever sends it")
	w = post(admin, "/parked/retry", form, "Authorization", "Bearer admin", "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, w.Code, "so is one from another origin")
	assert.False(t, parked().RetryRequested, "nothing changed")

	w = post(admin, "/parked/retry", form, "Authorization", "Bearer admin", "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.True(t, parked().RetryRequested)
	assert.Contains(t, w.Header().Get("Location"), "/parked?notice=Retry+asked+for+1")
	assert.Contains(t, asked, console.Action{Op: console.OpRetryParked, Processor: "reactor", Parked: id})

	w = post(admin, "/parked/discard", form, "Authorization", "Bearer admin")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	ps, err := s.Processors().Parked(ctx, projection.ParkedFilter{})
	require.NoError(t, err)
	assert.Empty(t, ps)
	assert.Equal(t, http.StatusNotFound, post(admin, "/parked/discard", form, "Authorization", "Bearer admin").Code, "discarded already")
}

func TestVersionActions(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	procs := s.Processors()
	save := func(v projection.ProjectionVersion) {
		require.NoError(t, procs.Commit(ctx, v.Processor, eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			return procs.SaveProjectionVersion(ctx, tx, v)
		}))
	}
	save(projection.ProjectionVersion{Name: "summary", Version: 1, Status: projection.VersionRetired, Processor: "summary", Kind: "custom"})
	save(projection.ProjectionVersion{Name: "summary", Version: 2, Status: projection.VersionActive, Processor: "summary_v2", Kind: "custom"})
	allow := console.WithAuthorizer(func(*http.Request, console.Action) error { return nil })
	h := console.New(s, allow)
	code, body := get(t, h, "/projections")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `action="/projections/drop"`)
	assert.Equal(t, 1, strings.Count(body, `action="/projections/drop"`), "the active version has no drop button")

	assert.Equal(t, http.StatusForbidden, post(console.New(s), "/projections/drop", url.Values{"projection": {"summary"}, "version": {"1"}}).Code)
	assert.Equal(t, http.StatusConflict, post(h, "/projections/drop", url.Values{"projection": {"summary"}, "version": {"2"}}).Code, "the active one")
	w := post(h, "/projections/drop", url.Values{"projection": {"summary"}, "version": {"1"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	vs, err := projection.Versions(ctx, procs, "summary")
	require.NoError(t, err)
	require.Len(t, vs, 1)
	assert.Equal(t, 2, vs[0].Version)
	assert.Equal(t, http.StatusBadRequest, post(h, "/projections/activate", url.Values{"projection": {"summary"}}).Code)
}

func TestLiveLog(t *testing.T) {
	s := openStore(t)
	appendEvent(t, s, "cart-1", "Opened", `{}`, emmett.Metadata{})
	srv := httptest.NewServer(console.New(s))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/log/live?after=1", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))

	lines := bufio.NewReader(res.Body)
	start := time.Now()
	appendEvent(t, s, "cart-2", "Opened", `{"n":2}`, emmett.Metadata{})
	for {
		line, err := lines.ReadString('\n')
		require.NoError(t, err)
		if strings.HasPrefix(line, "data: ") {
			assert.Contains(t, line, `"streamName":"cart-2"`, "only what came after 1")
			break
		}
	}
	assert.Less(t, time.Since(start), time.Second)
	cancel()
	_, _ = io.Copy(io.Discard, res.Body)
}

func TestStoreFailure(t *testing.T) {
	s := openStore(t)
	h := console.New(s, console.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, s.Close())
	code, body := get(t, h, "/streams")
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Contains(t, body, "the server&#39;s log has the error")
	assert.NotContains(t, body, "closed", "the store's error is logged, not shown")
}

func TestUpgrade(t *testing.T) {
	s := openStore(t)
	appendEvent(t, s, "cart-1", "PriceSet", `{"price":25}`, emmett.Metadata{})
	appendEvent(t, s, "cart-1", "Unreadable", `{}`, emmett.Metadata{})
	upgrade := func(typ string, v int, data []byte) (string, int, []byte, error) {
		if typ == "Unreadable" {
			return "", 0, nil, errors.New("no such type in the registry")
		}
		return typ, 2, []byte(strings.Replace(string(data), `25`, `{"amount":25,"currency":"EUR"}`, 1)), nil
	}
	h := console.New(s, console.WithUpgrade(upgrade))
	code, body := get(t, h, "/stream?name=cart-1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "&#34;amount&#34;: 25", "upgraded")
	assert.Contains(t, body, "<dd>2 (stored at 1)</dd>")
	assert.Contains(t, body, "failed, shown as stored: ")
	assert.Contains(t, body, "no such type in the registry")
	assert.Contains(t, body, `href="/stream?from=1&amp;name=cart-1&amp;partition=emt%3Adefault&amp;raw=1">as stored</a>`)

	code, body = get(t, h, "/stream?name=cart-1&raw=1")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "&#34;price&#34;: 25", "as stored")
	assert.NotContains(t, body, "stored at")
}

// Noted is the event of TestRebuildAction's projection.
type Noted struct{}

// Rebuild, offered for the processors given with WithRebuild, needs the
// authorizer, runs ResetAndRebuild in the background (a damaged document
// is replayed back), and the processors page and its JSON tell its
// progress.
func TestRebuildAction(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	type tally struct{ Count int }
	notes := projection.SingleStream("tallies", emmett.NewEvents[any](Noted{}), func(d *tally, _ emmett.Recorded[any]) *tally {
		if d == nil {
			d = &tally{}
		}
		d.Count++
		return d
	})
	for range 3 {
		appendEvent(t, s, "s-1", "Noted", `{}`, emmett.Metadata{})
	}
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(), notes)
	require.NoError(t, p.CatchUp(ctx))
	docs := notes.Collection(s.Documents())
	require.NoError(t, docs.Put(ctx, "s-1", tally{Count: 99})) // damaged

	readOnly := console.New(s, console.WithRebuild(p))
	assert.Equal(t, http.StatusForbidden, post(readOnly, "/processors/rebuild", url.Values{"processor": {p.ID()}}).Code)
	h := console.New(s, console.WithRebuild(p), console.WithAuthorizer(func(*http.Request, console.Action) error { return nil }))
	code, body := get(t, h, "/processors")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `action="/processors/rebuild"`)
	assert.Equal(t, http.StatusBadRequest, post(h, "/processors/rebuild", url.Values{"processor": {"other"}}).Code, "not one it rebuilds")
	doc, _, err := docs.Get(ctx, "s-1")
	require.NoError(t, err)
	assert.Equal(t, 99, doc.Count, "nothing rebuilt by a refused request")

	w := post(h, "/processors/rebuild", url.Values{"processor": {p.ID()}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Contains(t, w.Header().Get("Location"), "Rebuild+of+tallies+started")
	require.Eventually(t, func() bool {
		_, body := get(t, h, "/api/processors")
		return strings.Contains(body, `"rebuild":"rebuilt: 3 events"`)
	}, 10*time.Second, 10*time.Millisecond, "the processors' JSON tells the rebuild is over")
	doc, _, err = docs.Get(ctx, "s-1")
	require.NoError(t, err)
	assert.Equal(t, 3, doc.Count, "the damaged document is replayed back")
	_, body = get(t, h, "/processors")
	assert.Contains(t, body, "rebuilt: 3 events")
}
