package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/internal/slowclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shortTimeout is the server timeouts of these tests: short, for them to
// run fast; every check on time is generous.
const shortTimeout = 300 * time.Millisecond

func shortTimeouts() []httpapi.ServerOption {
	return []httpapi.ServerOption{
		httpapi.WithHeaderTimeout(shortTimeout), httpapi.WithRequestTimeout(shortTimeout),
		httpapi.WithResponseTimeout(shortTimeout), httpapi.WithIdleTimeout(shortTimeout),
	}
}

// serveWithTimeouts runs a NewServer on a real listener until the test ends, and
// returns its URL.
func serveWithTimeouts(t *testing.T, h http.Handler, opts ...httpapi.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpapi.NewServer("", h, opts...)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestNewServerTimeouts(t *testing.T) {
	h := http.NewServeMux()
	srv := httpapi.NewServer(":8080", h)
	assert.Equal(t, ":8080", srv.Addr)
	assert.Same(t, h, srv.Handler)
	assert.Equal(t, 10*time.Second, srv.ReadHeaderTimeout)
	assert.Equal(t, 30*time.Second, srv.ReadTimeout)
	assert.Equal(t, time.Minute, srv.WriteTimeout)
	assert.Equal(t, 2*time.Minute, srv.IdleTimeout)

	srv = httpapi.NewServer("", h, httpapi.WithHeaderTimeout(1), httpapi.WithRequestTimeout(2),
		httpapi.WithResponseTimeout(3), httpapi.WithIdleTimeout(4))
	assert.Equal(t, []time.Duration{1, 2, 3, 4}, []time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout})

	// Off: net/http takes a negative header or idle timeout as none, where
	// 0 would mean ReadTimeout's.
	srv = httpapi.NewServer("", h, httpapi.WithHeaderTimeout(0), httpapi.WithRequestTimeout(-1),
		httpapi.WithResponseTimeout(0), httpapi.WithIdleTimeout(-time.Second))
	assert.Negative(t, srv.ReadHeaderTimeout)
	assert.Zero(t, srv.ReadTimeout)
	assert.Zero(t, srv.WriteTimeout)
	assert.Negative(t, srv.IdleTimeout)
}

// TestNewServerCutsOffASlowBody sends a body a byte a second: the server
// gives up on it after its request timeout, answering 408.
func TestNewServerCutsOffASlowBody(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var v any
		if err := httpapi.DecodeJSON(r, &v); err != nil {
			(*httpapi.Problems)(nil).WriteError(w, r, err)
			return
		}
		_ = httpapi.WriteJSON(w, http.StatusOK, v)
	})
	url := serveWithTimeouts(t, mux, shortTimeouts()...)
	took, err := slowclient.SlowBody(url+"/echo", nil, time.Second, 10*time.Second)
	require.NoError(t, err)
	assert.Less(t, took, 5*time.Second, "cut off after about %v", shortTimeout)

	// What the client is told, when it is still there to read it.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/echo", iotestTimeoutReader{})
	req.Header.Set("Content-Type", "application/json")
	mux.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestTimeout, rec.Code, "%s", rec.Body)
	assert.Contains(t, rec.Body.String(), "the request body did not arrive in time")
}

// iotestTimeoutReader fails as a body read past the server's read deadline
// does.
type iotestTimeoutReader struct{}

func (iotestTimeoutReader) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

// TestNewServerClosesIdleConnections keeps a keep-alive connection idle
// after a request: the server closes it after its idle timeout.
func TestNewServerClosesIdleConnections(t *testing.T) {
	url := serveWithTimeouts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}), shortTimeouts()...)
	took, err := slowclient.IdleClose(url+"/", nil, 10*time.Second)
	require.NoError(t, err)
	assert.Less(t, took, 5*time.Second, "closed after about %v", shortTimeout)
}

// TestNewServerKeepsLiveStreamsOpen follows a live stream for several times
// the server's timeouts, silent for longer than each, over HTTP/1.1 and
// HTTP/2: neither the request nor the response timeout ends it, nor does
// the stream's own write timeout while it has nothing to write.
func TestNewServerKeepsLiveStreamsOpen(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		t.Run(name, func(t *testing.T) {
			store := memory.New()
			streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()),
				httpapi.WithWriteTimeout(shortTimeout), httpapi.WithHeartbeat(time.Hour))
			srv := httptest.NewUnstartedServer(nil)
			srv.Config = httpapi.NewServer("", streams, shortTimeouts()...)
			srv.EnableHTTP2 = h2
			if h2 {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			t.Cleanup(streams.Close)

			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/all/live", nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, name, resp.Proto)
			c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}

			start := time.Now()
			for i := 1; i <= 6; i++ {
				time.Sleep(shortTimeout + 100*time.Millisecond) // silent for longer than every timeout
				_, err := store.AppendToStream(ctx, "cart-1", []eventstore.EventData{raw("Added", i)})
				require.NoError(t, err)
				e, err := c.next()
				require.NoError(t, err, "event %d, %v after the stream began", i, time.Since(start))
				_, num := n(t, e)
				require.Equal(t, i, num)
			}
			assert.Greater(t, time.Since(start), 6*shortTimeout, "the stream outlived the timeouts")
		})
	}
}

// TestLiveDropsAClientThatStopsReading checks the other side of
// TestNewServerKeepsLiveStreamsOpen: a stream whose client stops reading
// ends once a write has waited for longer than the stream's write timeout.
func TestLiveDropsAClientThatStopsReading(t *testing.T) {
	store := memory.New()
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()), httpapi.WithWriteTimeout(shortTimeout))
	var active atomic.Int32
	url := serveWithTimeouts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		streams.ServeHTTP(w, r)
	}), shortTimeouts()...)
	t.Cleanup(streams.Close)

	resp, err := http.Get(url + "/all/live")
	require.NoError(t, err)
	defer resp.Body.Close() // never read
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Far more than the connection's buffers hold.
	big := fmt.Sprintf(`{"padding":%q}`, strings.Repeat("x", 64<<10))
	for range 400 {
		_, err := store.AppendToStream(t.Context(), "cart-1", []eventstore.EventData{{Type: "Big", Data: []byte(big)}})
		require.NoError(t, err)
		if active.Load() == 0 {
			break
		}
	}
	require.Eventually(t, func() bool { return active.Load() == 0 }, 10*time.Second, 10*time.Millisecond,
		"the stream ends once a write waits for longer than %v", shortTimeout)
}

func ExampleNewServer() {
	store := memory.New()
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()))
	mux := http.NewServeMux()
	mux.Handle("/events/", http.StripPrefix("/events", streams))

	// The default timeouts, but bodies must arrive within 10 seconds.
	srv := httpapi.NewServer("127.0.0.1:0", httpapi.Routes(mux, nil), httpapi.WithRequestTimeout(10*time.Second))
	srv.RegisterOnShutdown(streams.Close) // a graceful shutdown ends the live streams
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())

	resp, err := http.Get("http://" + ln.Addr().String() + "/events/all")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}
