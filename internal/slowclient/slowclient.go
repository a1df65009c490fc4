// Package slowclient plays the HTTP/1.1 clients a server must bound: one
// that sends its request body a byte at a time, and one that keeps its
// connection open and idle. Tests use it to check a server's timeouts.
package slowclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// bodySize is the Content-Length that SlowBody announces: far more bytes
// than it sends before its limit.
const bodySize = 1 << 20

// SlowBody sends a POST request to target over a new connection, with the
// given header lines, announcing a large JSON body and sending it one byte
// every interval. It returns how long after the request's headers the
// server gave up on the body (answered or closed the connection), or an
// error if the server was still reading it after limit.
func SlowBody(target string, header http.Header, interval, limit time.Duration) (time.Duration, error) {
	conn, u, err := dial(target)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(bodySize))
	if err := writeHead(conn, http.MethodPost, u, h); err != nil {
		return 0, err
	}
	start := time.Now()
	gaveUp := make(chan struct{})
	go func() {
		// The first byte of an answer, or the end of the connection.
		_, _ = conn.Read(make([]byte, 1))
		close(gaveUp)
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.After(limit)
	for {
		select {
		case <-gaveUp:
			return time.Since(start), nil
		case <-deadline:
			return 0, fmt.Errorf("slowclient: the server still reads the body %v after the request's headers", limit)
		case <-tick.C:
			if _, err := conn.Write([]byte{' '}); err != nil {
				return time.Since(start), nil // closed by the server
			}
		}
	}
}

// IdleClose sends a GET request to target over a new connection, with the
// given header lines, reads the response, and keeps the connection idle.
// It returns how long after the response the server closed the
// connection, or an error if it was still open after limit or if the
// server closed it with the response (Connection: close) rather than for
// idleness.
func IdleClose(target string, header http.Header, limit time.Duration) (time.Duration, error) {
	conn, u, err := dial(target)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := writeHead(conn, http.MethodGet, u, header); err != nil {
		return 0, err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return 0, err
	}
	if res.Close {
		return 0, errors.New("slowclient: the server closed the connection with its response, not for idleness")
	}
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(limit)); err != nil {
		return 0, err
	}
	if _, err = br.ReadByte(); err == nil {
		return 0, errors.New("slowclient: the server sent bytes on an idle connection")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, fmt.Errorf("slowclient: the connection is still open %v after the response", limit)
	}
	return time.Since(start), nil // io.EOF, or a reset
}

func dial(target string) (net.Conn, *url.URL, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, nil, err
	}
	if u.Scheme != "http" {
		return nil, nil, fmt.Errorf("slowclient: %s: only http URLs", target)
	}
	conn, err := net.Dial("tcp", u.Host)
	return conn, u, err
}

// writeHead writes a request line and headers.
func writeHead(w io.Writer, method string, u *url.URL, header http.Header) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), u.Host)
	if err := header.Write(&b); err != nil {
		return err
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}
