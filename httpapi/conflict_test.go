package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/internal/testdomain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedStore holds the first n reads of a stream, once read, until all n
// have read it, so that n commands released together all decide on the same
// version, and all but one lose the race to append.
type gatedStore struct {
	*memory.Store
	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func newGatedStore(n int) *gatedStore {
	return &gatedStore{Store: memory.New(), waiting: n, open: make(chan struct{})}
}

func (s *gatedStore) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return func(yield func(emmett.RecordedEvent, error) bool) {
		var read []emmett.RecordedEvent
		for e, err := range s.Store.ReadStream(ctx, stream, opts...) {
			if err != nil {
				yield(e, err)
				return
			}
			read = append(read, e)
		}
		s.mu.Lock()
		if s.waiting > 0 {
			if s.waiting--; s.waiting == 0 {
				close(s.open)
			}
		}
		s.mu.Unlock()
		select {
		case <-s.open:
		case <-time.After(10 * time.Second): // a writer got lost: the test fails on its counts
		}
		for _, e := range read {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// TestConflictWithoutPreconditionIs409 runs writers released together on
// one stream, through a real server, with the handler's retries cut short:
// the writers that lose the race and sent no If-Match are answered 409
// Conflict (they set no precondition that could fail), those that sent one
// 412 Precondition Failed.
func TestConflictWithoutPreconditionIs409(t *testing.T) {
	const writers = 16
	for _, tc := range []struct {
		name    string
		ifMatch string
		status  int
	}{
		{"NoIfMatch", "", http.StatusConflict},
		{"IfMatch", `W/"1"`, http.StatusPreconditionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newGatedStore(writers)
			ctx := context.Background()
			data, err := eventstore.Encode(testdomain.Events(), []testdomain.Event{added("hot", shoes)}, emmett.Metadata{})
			require.NoError(t, err)
			_, err = store.Store.AppendToStream(ctx, testdomain.StreamName("hot"), data)
			require.NoError(t, err)

			carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events(),
				command.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}))
			mux := http.NewServeMux()
			mux.Handle("POST /carts/{id}/items", httpapi.Command(carts,
				func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
					var body addItem
					if err := httpapi.DecodeJSON(r, &body); err != nil {
						return httpapi.CommandRequest[testdomain.Command]{}, err
					}
					id := r.PathValue("id")
					return httpapi.CommandRequest[testdomain.Command]{Stream: testdomain.StreamName(id),
						Command: testdomain.AddItem{CartID: id, ClientID: "ann", Now: now, Item: testdomain.Item(body)}}, nil
				}))
			srv := httptest.NewServer(mux)
			defer srv.Close()

			type answer struct {
				status      int
				contentType string
				problem     map[string]any
			}
			answers := make([]answer, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					req, err := http.NewRequest(http.MethodPost, srv.URL+"/carts/hot/items", strings.NewReader(`{"productId":"socks","quantity":1,"unitPrice":3.5}`))
					if !assert.NoError(t, err) {
						return
					}
					req.Header.Set("Content-Type", "application/json")
					if tc.ifMatch != "" {
						req.Header.Set("If-Match", tc.ifMatch)
					}
					<-start
					res, err := srv.Client().Do(req)
					if !assert.NoError(t, err) {
						return
					}
					defer res.Body.Close()
					a := answer{status: res.StatusCode, contentType: res.Header.Get("Content-Type")}
					if res.StatusCode >= 300 {
						assert.NoError(t, json.NewDecoder(res.Body).Decode(&a.problem))
					}
					answers[i] = a
				})
			}
			close(start)
			wg.Wait()

			statuses := map[int]int{}
			for _, a := range answers {
				statuses[a.status]++
				if a.status == tc.status {
					assert.Equal(t, httpapi.ProblemContentType, a.contentType)
					assert.Equal(t, float64(tc.status), a.problem["status"])
					assert.Equal(t, http.StatusText(tc.status), a.problem["title"])
				}
			}
			assert.Equal(t, map[int]int{http.StatusOK: 1, tc.status: writers - 1}, statuses,
				"one writer wins, the others lose the race with no retry left")
			v, _, err := store.StreamVersion(ctx, testdomain.StreamName("hot"))
			require.NoError(t, err)
			assert.Equal(t, int64(2), v, fmt.Sprintf("only the winner appended: %v", statuses))
		})
	}
}
