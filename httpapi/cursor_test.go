package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resolverFunc is a PositionResolver of the test's own.
type resolverFunc func(ctx context.Context, p eventstore.Position) (eventstore.Position, error)

func (f resolverFunc) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	return f(ctx, p)
}

func TestResolvePosition(t *testing.T) {
	ctx := t.Context()
	// A store whose events are at 1 to 5, all of transaction 7.
	store := resolverFunc(func(_ context.Context, p eventstore.Position) (eventstore.Position, error) {
		if p.GlobalPosition == 0 {
			return p, nil
		}
		if p.GlobalPosition < 1 || p.GlobalPosition > 5 || (p.TransactionID != 0 && p.TransactionID != 7) {
			return eventstore.Position{}, fmt.Errorf("%w %s", eventstore.ErrPositionNotFound, p)
		}
		return eventstore.Position{TransactionID: 7, GlobalPosition: p.GlobalPosition, LSN: p.LSN}, nil
	})
	for value, want := range map[string]eventstore.Position{
		"":    {},
		"3":   {TransactionID: 7, GlobalPosition: 3},
		"7:3": {TransactionID: 7, GlobalPosition: 3},
	} {
		got, err := httpapi.ResolvePosition(ctx, store, httpapi.InQuery, "after", value)
		require.NoError(t, err, value)
		assert.Equal(t, want, got, value)
	}
	for value, reason := range map[string]string{
		"x":   "not a position",
		"-1":  "not a position",
		"6":   "no event is at this position",
		"8:3": "no event is at this position",
	} {
		_, err := httpapi.ResolvePosition(ctx, store, httpapi.InHeader, "X-Wait-For-Position", value)
		var in *httpapi.InputError
		require.ErrorAs(t, err, &in, value)
		assert.Equal(t, httpapi.InputError{In: httpapi.InHeader, Name: "X-Wait-For-Position", Value: value, Reason: reason, Err: in.Err}, *in)
		p := (*httpapi.Problems)(nil).Problem(nil, err)
		assert.Equal(t, http.StatusBadRequest, p.Status, value)
	}

	// The store's own errors are not the client's.
	failing := resolverFunc(func(context.Context, eventstore.Position) (eventstore.Position, error) {
		return eventstore.Position{}, fmt.Errorf("postgres: resolving position 3: %w", eventstore.ErrUnavailable)
	})
	_, err := httpapi.ResolvePosition(ctx, failing, httpapi.InQuery, "after", "3")
	assert.ErrorIs(t, err, eventstore.ErrUnavailable)
	assert.False(t, errors.As(err, new(*httpapi.InputError)))
	assert.Equal(t, http.StatusServiceUnavailable, (*httpapi.Problems)(nil).Problem(nil, err).Status)
}

// TestLogPositionWithoutEventIs400: a page of the log after a position at
// which the store has no event is refused, never read from the start or
// from past the end (TestLiveBadCursorIs400 has the live streams').
func TestLogPositionWithoutEventIs400(t *testing.T) {
	for _, q := range []string{"after=6", "after=999999999", "after=7:3"} {
		for _, path := range []string{"/events/all?", "/events/categories/cart?"} {
			streamsSpec(t).
				GivenRaw("cart-1", raws("Added", 1, 5)...).
				When(spec.Get(path + q)).
				ThenProblem(http.StatusBadRequest).
				ThenJSONContains(map[string]any{"in": "query", "name": "after", "detail": `query parameter "after": no event is at this position`})
		}
	}
	streamsSpec(t).
		GivenRaw("cart-1", raws("Added", 1, 5)...).
		When(spec.Get("/events/all?after=3")).
		ThenStatus(http.StatusOK).
		ThenBody(func(t testing.TB, body []byte) {
			assert.Equal(t, []string{"cart-1@4:4", "cart-1@5:5"}, eventsOf(t, body))
		})
}
