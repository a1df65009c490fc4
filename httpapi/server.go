package httpapi

import (
	"net/http"
	"time"
)

// ServerOption configures a server made by NewServer.
type ServerOption func(*serverConfig)

type serverConfig struct {
	header, request, response, idle time.Duration
}

// NewServer returns an http.Server that serves handler on addr (":http"
// when empty, as for http.Server) with timeouts that bound what a slow or
// idle client can hold, and that the live event streams stay open under:
//
//   - reading a request's headers: 10 seconds by default
//     (WithHeaderTimeout);
//   - reading a whole request, its body included: 30 seconds
//     (WithRequestTimeout), so that a body sent a byte at a time is cut
//     off;
//   - answering, counted from the end of the request's headers: 1 minute
//     (WithResponseTimeout);
//   - waiting for the next request on a keep-alive connection: 2 minutes
//     (WithIdleTimeout).
//
// These are the http.Server's ReadHeaderTimeout, ReadTimeout, WriteTimeout
// and IdleTimeout, which the returned server can still change. The live
// endpoints of Streams are bound by neither the request nor the response
// timeout: net/http stops bounding reads once a request's body is read, and
// a live stream bounds each of its writes instead (see WithWriteTimeout),
// so it lasts for as long as its client reads it. Another handler that must
// write for longer than the response timeout does the same with
// http.ResponseController's SetWriteDeadline.
//
//	srv := httpapi.NewServer(":8080", httpapi.Routes(mux, problems))
//	srv.RegisterOnShutdown(streams.Close)
//	err := srv.ListenAndServe()
func NewServer(addr string, handler http.Handler, opts ...ServerOption) *http.Server {
	cfg := serverConfig{header: 10 * time.Second, request: 30 * time.Second, response: time.Minute, idle: 2 * time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	return &http.Server{
		Addr:    addr,
		Handler: handler,
		// Negative, not 0, is off for these two: 0 would fall back on
		// ReadTimeout.
		ReadHeaderTimeout: offIfZero(cfg.header),
		IdleTimeout:       offIfZero(cfg.idle),
		ReadTimeout:       cfg.request,
		WriteTimeout:      cfg.response,
	}
}

func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// WithHeaderTimeout bounds the reading of a request's headers; 10 seconds
// by default, off when d <= 0.
func WithHeaderTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.header = max(d, 0) }
}

// WithRequestTimeout bounds the reading of a whole request, headers and
// body, from its first byte: a client that sends its body too slowly is cut
// off. 30 seconds by default, off when d <= 0. It does not bound the live
// streams, which have no body.
func WithRequestTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.request = max(d, 0) }
}

// WithResponseTimeout bounds the time from the end of a request's headers
// to the end of its response (reading the body included): a write after it
// fails and the connection is closed. One minute by default, off when
// d <= 0. The live streams set their own deadline for each write instead
// (see WithWriteTimeout).
func WithResponseTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.response = max(d, 0) }
}

// WithIdleTimeout bounds how long a keep-alive connection waits for its
// next request before the server closes it; 2 minutes by default, off when
// d <= 0.
func WithIdleTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.idle = max(d, 0) }
}
