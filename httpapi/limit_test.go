package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/emmett-go/emmett/eventstore"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refusingHandler is a command handler that no request should reach.
type refusingHandler struct{ t *testing.T }

func (h refusingHandler) Handle(context.Context, string, map[string]any, ...eventstore.AppendOption) (command.Result[struct{}, any], error) {
	h.t.Error("the command was handled")
	return command.Result[struct{}, any]{}, nil
}

// sendExpectContinue sends the head of a POST of length bytes with
// "Expect: 100-continue", as a raw client, and returns the first response
// the server gives, without ever sending the body.
func sendExpectContinue(t *testing.T, srv *httptest.Server, path string, length int64) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		path, u.Host, length)
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, body
}

// An 8 MiB body announced with "Expect: 100-continue" is refused 413 by its
// Content-Length, before the server asks for it with 100 Continue (which
// it would then cut off, resetting the connection mid-body).
func TestOversizedContentLengthIs413BeforeTheBodyIsRead(t *testing.T) {
	const eightMiB = 8 << 20
	decoded := func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := httpapi.DecodeJSON(r, &v); err != nil {
			(&httpapi.Problems{}).WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	for name, c := range map[string]struct {
		handler http.Handler
		path    string
		limit   int64
	}{
		"LimitBody":   {httpapi.LimitBody(1024, http.HandlerFunc(decoded)), "/x", 1024},
		"DecodeJSON":  {http.HandlerFunc(decoded), "/x", httpapi.DefaultMaxBodyBytes},
		"Command":     {httpapi.Command[struct{}, map[string]any, any](refusingHandler{t}, decodeMap, httpapi.WithMaxBodyBytes(1024)), "/x", 1024},
		"AppendToLog": {httpapi.NewStreams(memory.New(), httpapi.AllowAppend(), httpapi.WithMaxBodyBytes(1024)), "/streams/s-1", 1024},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			for range 5 {
				res, body := sendExpectContinue(t, srv, c.path, eightMiB)
				require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "the first answer, not 100 Continue: %s", body)
				assert.Equal(t, httpapi.ProblemContentType, res.Header.Get("Content-Type"))
				var p map[string]any
				require.NoError(t, json.Unmarshal(body, &p), string(body))
				assert.Equal(t, float64(c.limit), p["limit"])
				assert.Equal(t, fmt.Sprintf("the request body is larger than the limit of %d bytes", c.limit), p["detail"])
			}

			// A client that waits for 100 Continue gets 413 and sends nothing.
			tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			sent := &countingReader{r: strings.NewReader(strings.Repeat("x", eightMiB))}
			req, err := http.NewRequest(http.MethodPost, srv.URL+c.path, sent)
			require.NoError(t, err)
			req.ContentLength = eightMiB
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Expect", "100-continue")
			res, err := (&http.Client{Transport: tr}).Do(req)
			require.NoError(t, err)
			_ = res.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
			assert.Zero(t, sent.n.Load(), "the body is not asked for")
		})
	}
}

func decodeMap(r *http.Request) (httpapi.CommandRequest[map[string]any], error) {
	var m map[string]any
	err := httpapi.DecodeJSON(r, &m)
	return httpapi.CommandRequest[map[string]any]{Stream: "s-1", Command: m}, err
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
