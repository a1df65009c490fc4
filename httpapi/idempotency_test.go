package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdempotencyKey posts commands over a real server: the same
// Idempotency-Key twice gets the same answer and stores one event; the key
// with another body is a 422; a malformed key a 400.
func TestIdempotencyKey(t *testing.T) {
	store := memory.New()
	srv := httptest.NewServer(cartAPI(store))
	defer srv.Close()
	post := func(key string, body addItem) (int, http.Header, string) {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/carts/1/items", bytes.NewReader(data))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set(httpapi.IdempotencyKeyHeader, key)
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, res.Header, string(out)
	}
	count := func() int {
		n := 0
		for _, err := range store.ReadStream(context.Background(), "cart-1") {
			require.NoError(t, err)
			n++
		}
		return n
	}

	status, header, body := post("order-7", addItem{"shoes", 2, 100})
	require.Equal(t, http.StatusCreated, status, body)
	status2, header2, body2 := post("order-7", addItem{"shoes", 2, 100})
	assert.Equal(t, status, status2, "the same answer: %s", body2)
	assert.Equal(t, header.Get("ETag"), header2.Get("ETag"))
	assert.JSONEq(t, body, body2)
	assert.Equal(t, 1, count(), "stored once")

	status, _, body = post("order-7", addItem{"socks", 1, 3.5})
	assert.Equal(t, http.StatusUnprocessableEntity, status, body)
	assert.Contains(t, body, "Idempotency key reused")
	assert.Equal(t, 1, count(), "nothing appended")

	status, _, _ = post("order-8", addItem{"socks", 1, 3.5})
	assert.Equal(t, http.StatusOK, status, "a new key is a new command")
	assert.Equal(t, 2, count())
	status, _, _ = post("", addItem{"socks", 1, 3.5})
	assert.Equal(t, http.StatusOK, status, "no key: no idempotency")
	assert.Equal(t, 3, count())

	for _, bad := range []string{" ", "é", strings.Repeat("k", 256)} {
		status, _, body = post(bad, addItem{"socks", 1, 3.5})
		assert.Equal(t, http.StatusBadRequest, status, "%q: %s", bad, body)
	}
	assert.Equal(t, 3, count())

	// 8 clients retrying one request at once: one event, the same answer.
	start := make(chan struct{})
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for c := range 8 {
		wg.Go(func() {
			<-start
			status, header, body := post("order-9", addItem{"hat", 1, 25})
			answers[c] = fmt.Sprintf("%d %s %s", status, header.Get("ETag"), body)
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 4, count(), "stored once")
	for c := range answers {
		assert.Equal(t, answers[0], answers[c], "client %d", c)
	}
	assert.Contains(t, answers[0], "200")
}
