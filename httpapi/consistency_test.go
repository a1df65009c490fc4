package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/stretchr/testify/assert"
)

func TestReadYourWrites(t *testing.T) {
	var got *eventstore.Position
	h := httpapi.ReadYourWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = nil
		if p, ok := eventstore.MinPosition(r.Context()); ok {
			got = &p
		}
	}))
	serve := func(value string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/all", nil)
		if value != "" {
			r.Header.Set(httpapi.MinPositionHeader, value)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	assert.Equal(t, http.StatusOK, serve("").Code)
	assert.Nil(t, got, "no header, no position")
	assert.Equal(t, http.StatusOK, serve("712:4").Code)
	assert.Equal(t, &eventstore.Position{TransactionID: 712, GlobalPosition: 4}, got)
	assert.Equal(t, http.StatusOK, serve("0/1A2B@712:4").Code)
	assert.Equal(t, &eventstore.Position{LSN: 0x1A2B, TransactionID: 712, GlobalPosition: 4}, got)

	got = nil
	w := serve("yesterday")
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Equal(t, httpapi.ProblemContentType, w.Header().Get("Content-Type"))
	assert.Contains(t, w.Body.String(), httpapi.MinPositionHeader)
	assert.Nil(t, got, "the handler is not called")
}
