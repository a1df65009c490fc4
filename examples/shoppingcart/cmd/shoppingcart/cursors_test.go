package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBareGlobalPositions resumes the event feed and waits for the summary
// with an event's bare globalPosition, as a client does with what it was
// given, on SQLite and on PostgreSQL: it means that event on both (on
// PostgreSQL it meant the start of the log, whose positions have a
// transaction part). A position at which the store has no event is 400 on
// both, at once.
func TestBareGlobalPositions(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "carts.db")
		a := start(t, "EMMETT_SQLITE_PATH="+db, "EMMETT_POSTGRES_URL=")
		bareGlobalPositions(t, a)
		a.stop(t)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		a := start(t, "EMMETT_POSTGRES_URL="+pgtest.NewDatabase(t))
		bareGlobalPositions(t, a)
		a.stop(t)
	})
}

func bareGlobalPositions(t *testing.T, a *app) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the app's log:\n%s", a.output())
		}
	})
	for _, client := range []string{"ann", "bob", "ann", "cid", "bob", "ann"} {
		res := a.do(t, http.MethodPost, "/clients/"+client+"/shopping-carts/current/product-items", `{"productId":"socks","quantity":1}`)
		require.Less(t, res.status, 300, "%s", res.body)
	}
	all := a.allEvents(t)
	require.GreaterOrEqual(t, len(all), 6)
	res := a.do(t, http.MethodGet, "/events/all?limit=1000", "")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var page struct {
		Events []struct{ GlobalPosition int64 }
	}
	res.json(t, &page)
	require.Len(t, page.Events, len(all))
	globals := make([]int64, len(all))
	for i, e := range page.Events {
		globals[i] = e.GlobalPosition
	}

	positions := func(events []event) []string {
		out := []string{}
		for _, e := range events {
			out = append(out, e.Position)
		}
		return out
	}
	after := func(cursor string) []string {
		t.Helper()
		res := a.do(t, http.MethodGet, "/events/all?limit=1000&after="+cursor, "")
		require.Equal(t, http.StatusOK, res.status, "after=%s: %s", cursor, res.body)
		var page struct{ Events []event }
		res.json(t, &page)
		return positions(page.Events)
	}

	t.Run("PagesAfterABareGlobalPosition", func(t *testing.T) {
		for k := range all {
			bare := strconv.FormatInt(globals[k], 10)
			want := positions(all[k+1:])
			assert.Equal(t, want, after(all[k].Position), "after the position %s", all[k].Position)
			assert.Equal(t, want, after(bare), "after the bare global position %s", bare)
		}
	})
	t.Run("LiveAfterABareGlobalPosition", func(t *testing.T) {
		k := len(all) / 2
		bare := strconv.FormatInt(globals[k], 10)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got := a.sse(ctx, t, "/events/all/live", bare, 1)
		require.Len(t, got, 1)
		assert.Equal(t, all[k+1].Position, got[0].Position, "Last-Event-ID: %s resumes after that event", bare)

		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got = a.sse(ctx, t, "/events/all/live?after="+bare, "", 1)
		require.Len(t, got, 1)
		assert.Equal(t, all[k+1].Position, got[0].Position, "after=%s resumes after that event", bare)
	})
	t.Run("WaitForABareGlobalPosition", func(t *testing.T) {
		last := strconv.FormatInt(globals[len(globals)-1], 10)
		res := a.do(t, http.MethodGet, "/clients/ann/shopping-carts/summary", "", "X-Wait-For-Position", last)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		var summary struct {
			Pending struct{ ProductItemsCount int }
		}
		res.json(t, &summary)
		assert.Equal(t, 3, summary.Pending.ProductItemsCount, "the summary has caught up with the last event")
	})
	t.Run("NoEventThereIs400", func(t *testing.T) {
		head := globals[len(globals)-1]
		for _, tc := range []struct{ path, header, value, name string }{
			{"/events/all?after=999999999", "", "", "after"},
			{fmt.Sprintf("/events/all?after=%d", head+1), "", "", "after"},
			{"/events/categories/shopping_cart?after=999999999", "", "", "after"},
			{"/events/all/live?after=999999999", "", "", "after"},
			{"/events/all/live", "Last-Event-ID", "9999999", "Last-Event-ID"},
			{"/events/categories/shopping_cart/live", "Last-Event-ID", "9999999", "Last-Event-ID"},
			{"/clients/ann/shopping-carts/summary", "X-Wait-For-Position", "999999999", "X-Wait-For-Position"},
			{"/clients/ann/shopping-carts/summary", "X-Wait-For-Position", "77:" + strconv.FormatInt(head, 10), "X-Wait-For-Position"},
		} {
			// A live stream's answer does not end: only the status and
			// a problem's body are read.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+tc.path, nil)
			require.NoError(t, err)
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			if assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%s %s", tc.path, tc.value) {
				var p struct{ Name string }
				assert.NoError(t, json.NewDecoder(res.Body).Decode(&p))
				assert.Equal(t, tc.name, p.Name)
			}
			res.Body.Close()
			cancel()
		}
	})
}
