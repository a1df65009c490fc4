package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveServer serves a Streams handler of a new memory store under /events
// on a real HTTP server.
func liveServer(t *testing.T, opts ...httpapi.StreamsOption) (*memory.Store, *httpapi.Streams, *httptest.Server) {
	t.Helper()
	store := memory.New()
	streams := httpapi.NewStreams(store, append([]httpapi.StreamsOption{
		httpapi.WithSource(store.Source(projection.PollBatchSize(7))),
	}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/events/", http.StripPrefix("/events", streams))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // waits for every handler: a live stream that does not end hangs the test
	t.Cleanup(streams.Close)
	return store, streams, srv
}

// sseEvent is one Server-Sent Event as a client sees it.
type sseEvent struct {
	ID   string
	Data string
}

// sseClient reads a text/event-stream the way EventSource does.
type sseClient struct {
	resp     *http.Response
	r        *bufio.Reader
	lastID   string
	comments []string
	retry    string
}

func connect(t *testing.T, ctx context.Context, url, lastEventID string) *sseClient {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Failf(t, "not a live stream", "%s: %s", resp.Status, body)
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	return &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event; comments are recorded on the way.
func (c *sseClient) next() (sseEvent, error) {
	var data []string
	id, hasID := "", false
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return sseEvent{}, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if hasID {
				c.lastID = id
			}
			if len(data) > 0 {
				return sseEvent{ID: c.lastID, Data: strings.Join(data, "\n")}, nil
			}
			hasID = false
			continue
		}
		if text, ok := strings.CutPrefix(line, ":"); ok {
			c.comments = append(c.comments, strings.TrimPrefix(text, " "))
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id, hasID = value, true
		case "data":
			data = append(data, value)
		case "retry":
			c.retry = value
		}
	}
}

func (c *sseClient) close() { c.resp.Body.Close() }

// n returns the n of an event's data {"n": …}, checking the envelope.
func n(t *testing.T, e sseEvent) (eventstore.JSONEvent, int) {
	t.Helper()
	var ev eventstore.JSONEvent
	require.NoError(t, json.Unmarshal([]byte(e.Data), &ev), e.Data)
	var data struct{ N int }
	require.NoError(t, json.Unmarshal(ev.Data, &data))
	return ev, data.N
}

// appendConcurrently appends total events numbered from 1 to streams
// chosen by streamOf, in order, from another goroutine.
func appendConcurrently(t *testing.T, store eventstore.Store, from, total int, streamOf func(n int) string) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := from; i <= total; i++ {
			_, err := store.AppendToStream(context.Background(), streamOf(i), []eventstore.EventData{raw("Added", i)})
			assert.NoError(t, err)
			if i%5 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	return &wg
}

// readResuming reads want events from url, disconnecting after every
// chunk of them and resuming with Last-Event-ID, and returns the events.
func readResuming(t *testing.T, url string, want, chunk int) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []sseEvent
	lastID := ""
	for len(got) < want {
		c := connect(t, ctx, url, lastID)
		for i := 0; i < chunk && len(got) < want; i++ {
			e, err := c.next()
			require.NoError(t, err, "after %d events", len(got))
			got = append(got, e)
			lastID = e.ID
		}
		c.close()
	}
	return got
}

func TestLiveAllResumesExactlyOnce(t *testing.T) {
	store, _, srv := liveServer(t)
	const before, total = 20, 300
	appendConcurrently(t, store, 1, before, func(i int) string { return fmt.Sprintf("cart-%d", i%3) }).Wait()
	wg := appendConcurrently(t, store, before+1, total, func(i int) string { return fmt.Sprintf("cart-%d", i%3) })
	defer wg.Wait()

	got := readResuming(t, srv.URL+"/events/all/live", total, 37)
	for i, e := range got {
		ev, num := n(t, e)
		require.Equal(t, i+1, num, "event %d of the log, exactly once and in order", i+1)
		require.Equal(t, fmt.Sprint(i+1), e.ID, "the id is the global position")
		require.Equal(t, ev.Position, e.ID)
		require.Equal(t, fmt.Sprintf("cart-%d", num%3), ev.StreamName)
	}
}

func TestLiveStreamResumesExactlyOnce(t *testing.T) {
	store, _, srv := liveServer(t)
	streamOf := func(i int) string {
		if i%3 == 0 {
			return "cart-1"
		}
		return fmt.Sprintf("other-%d", i%2)
	}
	const before, total = 30, 450
	appendConcurrently(t, store, 1, before, streamOf).Wait()
	wg := appendConcurrently(t, store, before+1, total, streamOf)
	defer wg.Wait()

	got := readResuming(t, srv.URL+"/events/streams/cart-1/live", total/3, 23)
	for i, e := range got {
		ev, num := n(t, e)
		require.Equal(t, 3*(i+1), num, "event %d of the stream, exactly once and in order", i+1)
		require.Equal(t, fmt.Sprint(i+1), e.ID, "the id is the stream position")
		require.Equal(t, int64(i+1), ev.StreamPosition)
		require.Equal(t, "cart-1", ev.StreamName)
	}
}

func TestLiveCategoryResumesExactlyOnce(t *testing.T) {
	store, _, srv := liveServer(t)
	streamOf := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("cart-%d", i%7)
		}
		return fmt.Sprintf("order-%d", i%7)
	}
	const before, total = 10, 400
	appendConcurrently(t, store, 1, before, streamOf).Wait()
	wg := appendConcurrently(t, store, before+1, total, streamOf)
	defer wg.Wait()

	got := readResuming(t, srv.URL+"/events/categories/cart/live", total/2, 41)
	for i, e := range got {
		ev, num := n(t, e)
		require.Equal(t, 2*(i+1), num, "event %d of the category, exactly once and in order", i+1)
		require.Equal(t, fmt.Sprint(num), e.ID, "the id is the global position")
		require.Equal(t, "cart", eventstore.StreamType(ev.StreamName))
	}
}

func TestLiveStartingPoint(t *testing.T) {
	store, _, srv := liveServer(t, httpapi.WithReconnectDelay(2500*time.Millisecond))
	appendConcurrently(t, store, 1, 5, func(int) string { return "cart-1" }).Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	first := func(url, lastEventID string) (*sseClient, int) {
		c := connect(t, ctx, url, lastEventID)
		e, err := c.next()
		require.NoError(t, err)
		_, num := n(t, e)
		c.close()
		return c, num
	}
	c, num := first(srv.URL+"/events/all/live", "")
	assert.Equal(t, 1, num, "from the beginning")
	assert.Equal(t, "2500", c.retry, "the retry field")
	_, num = first(srv.URL+"/events/all/live?after=3", "")
	assert.Equal(t, 4, num, "after the query's position")
	_, num = first(srv.URL+"/events/all/live?after=3", "4")
	assert.Equal(t, 5, num, "Last-Event-ID wins over the query")
	_, num = first(srv.URL+"/events/streams/cart-1/live?after=2", "")
	assert.Equal(t, 3, num)

	// "end" starts with the next new event.
	for _, url := range []string{"/events/all/live?after=end", "/events/streams/cart-1/live?after=end", "/events/categories/cart/live?after=end"} {
		c := connect(t, ctx, srv.URL+url, "")
		_, err := store.AppendToStream(ctx, "cart-1", []eventstore.EventData{raw("Added", 100)})
		require.NoError(t, err)
		e, err := c.next()
		require.NoError(t, err)
		_, num := n(t, e)
		assert.Equal(t, 100, num, url)
		c.close()
		_, err = store.AppendToStream(ctx, "cart-1", []eventstore.EventData{raw("Added", 0)})
		require.NoError(t, err)
	}
}

func TestLiveBadCursorIs400(t *testing.T) {
	_, _, srv := liveServer(t)
	for _, tc := range []struct{ url, lastEventID, name string }{
		{"/events/all/live?after=x", "", "after"},
		{"/events/all/live", "x", "Last-Event-ID"},
		{"/events/streams/cart-1/live", "1:2", "Last-Event-ID"},
		{"/events/streams/cart-1/live?after=-1", "", "after"},
		{"/events/categories/cart/live?after=1:", "", "after"},
		// Positions at which the store has no event: never read as the
		// start of the log, nor as a point past its end.
		{"/events/all/live?after=6", "", "after"},
		{"/events/categories/cart/live?after=999999999", "", "after"},
		{"/events/all/live", "9999999", "Last-Event-ID"},
		{"/events/categories/cart/live?after=end", "7:3", "Last-Event-ID"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+tc.url, nil)
		require.NoError(t, err)
		if tc.lastEventID != "" {
			req.Header.Set("Last-Event-ID", tc.lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var p httpapi.Problem
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.url)
		assert.Equal(t, httpapi.ProblemContentType, resp.Header.Get("Content-Type"))
		assert.Equal(t, tc.name, p.Extensions["name"], tc.url)
	}
}

func TestLiveHeartbeat(t *testing.T) {
	store, _, srv := liveServer(t, httpapi.WithHeartbeat(30*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := connect(t, ctx, srv.URL+"/events/streams/cart-1/live", "")
	defer c.close()

	// Events of other streams do not count as activity: heartbeats go on.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				_, err := store.AppendToStream(context.Background(), "other-1", []eventstore.EventData{raw("Added", i)})
				assert.NoError(t, err)
			}
		}
	})
	go func() {
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		_, err := store.AppendToStream(context.Background(), "cart-1", []eventstore.EventData{raw("Added", 42)})
		assert.NoError(t, err)
	}()
	e, err := c.next()
	require.NoError(t, err)
	_, num := n(t, e)
	assert.Equal(t, 42, num)
	assert.GreaterOrEqual(t, len(c.comments), 3, "a heartbeat every 30ms for 200ms")
	for _, comment := range c.comments {
		assert.Equal(t, "heartbeat", comment)
	}
}

func TestLiveEndsOnClose(t *testing.T) {
	_, streams, srv := liveServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := connect(t, ctx, srv.URL+"/events/all/live", "")
	defer c.close()
	streams.Close()
	_, err := c.next()
	assert.ErrorIs(t, err, io.EOF, "the stream ends cleanly")

	resp, err := http.Get(srv.URL + "/events/all/live")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no new live streams after Close")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))

	resp, err = http.Get(srv.URL + "/events/all")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "pages still work")
}

func TestLiveEndsWithTheRequestContext(t *testing.T) {
	store := memory.New()
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()))
	// The server's base context ends on shutdown, and with it every
	// request's context.
	base, shutdown := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(streams)
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	defer srv.Close()

	c := connect(t, t.Context(), srv.URL+"/all/live", "")
	defer c.close()
	shutdown()
	_, err := c.next()
	assert.ErrorIs(t, err, io.EOF)
}

func TestLiveWithoutSource(t *testing.T) {
	// A store that is not a backend.Log and no source: no live streams.
	h := httpapi.NewStreams(struct{ eventstore.Store }{memory.New()})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/all/live", nil))
	assert.Equal(t, http.StatusNotImplemented, rec.Code)
	assert.Equal(t, httpapi.ProblemContentType, rec.Header().Get("Content-Type"))
}

func TestLiveDefaultSourcePollsTheStore(t *testing.T) {
	store := memory.New()
	srv := httptest.NewServer(httpapi.NewStreams(store)) // no WithSource: polls the store
	defer srv.Close()
	_, err := store.AppendToStream(t.Context(), "cart-1", []eventstore.EventData{raw("Added", 1)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := connect(t, ctx, srv.URL+"/all/live", "")
	defer c.close()
	e, err := c.next()
	require.NoError(t, err)
	_, num := n(t, e)
	assert.Equal(t, 1, num)
}

func TestLiveEndsWhenTheClientDisconnects(t *testing.T) {
	store := memory.New()
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()))
	var active atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		streams.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, url := range []string{"/all/live", "/streams/cart-1/live", "/categories/cart/live"} {
		c := connect(t, ctx, srv.URL+url, "")
		_, err := store.AppendToStream(ctx, "cart-1", []eventstore.EventData{raw("Added", 1)})
		require.NoError(t, err)
		_, err = c.next()
		require.NoError(t, err)
		require.Equal(t, int32(1), active.Load())
		c.close()
		require.Eventually(t, func() bool { return active.Load() == 0 }, 5*time.Second, 5*time.Millisecond,
			"the handler of %s returns once its client is gone", url)
	}
}
