package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Counted is at schema version 2: version 1 stored {"count":N}.
type Counted struct {
	N int `json:"n"`
}

type countedEvent interface{}

func countedEvents() *emmett.Events[countedEvent] {
	return emmett.NewEvents[countedEvent](Counted{}).
		Upcast("Counted", 1, emmett.UpcastJSON(func(v1 struct {
			Count int `json:"count"`
		}) (Counted, error) {
			return Counted{N: v1.Count}, nil
		}))
}

// TestUpgradedFeed serves events stored at version 1 in their current
// form, with the current version in the envelope, in pages and live;
// without WithUpgrade, as stored.
func TestUpgradedFeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, _, srv := liveServer(t, httpapi.WithUpgrade(countedEvents().Upgrade))
	_, err := store.AppendToStream(ctx, "count-1", []eventstore.EventData{
		{Type: "Counted", Data: []byte(`{"count":1}`), SchemaVersion: 1},
		{Type: "Counted", Data: []byte(`{"n":2}`), SchemaVersion: 2},
	})
	require.NoError(t, err)

	for _, path := range []string{"/events/streams/count-1", "/events/all"} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		var page struct{ Events []eventstore.JSONEvent }
		require.NoError(t, json.Unmarshal(body, &page))
		require.Len(t, page.Events, 2)
		for i, e := range page.Events {
			assert.Equal(t, 2, e.SchemaVersion, "%s: the current version", path)
			assert.JSONEq(t, []string{`{"n":1}`, `{"n":2}`}[i], string(e.Data), "%s: the current form", path)
		}
	}

	c := connect(t, ctx, srv.URL+"/events/all/live", "")
	defer c.close()
	first, err := c.next()
	require.NoError(t, err)
	ev, v := n(t, first)
	assert.Equal(t, 1, v)
	assert.Equal(t, 2, ev.SchemaVersion)

	// As stored, without WithUpgrade.
	plain, _, plainSrv := liveServer(t)
	_, err = plain.AppendToStream(ctx, "count-1", []eventstore.EventData{{Type: "Counted", Data: []byte(`{"count":1}`), SchemaVersion: 1}})
	require.NoError(t, err)
	res, err := http.Get(plainSrv.URL + "/events/streams/count-1")
	require.NoError(t, err)
	defer res.Body.Close()
	var page struct{ Events []eventstore.JSONEvent }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	require.Len(t, page.Events, 1)
	assert.Equal(t, 1, page.Events[0].SchemaVersion)
	assert.JSONEq(t, `{"count":1}`, string(page.Events[0].Data))

	// An event the registry cannot read is a server error, not a page
	// that leaves it out.
	_, err = store.AppendToStream(ctx, "count-2", []eventstore.EventData{{Type: "Counted", Data: []byte(`{}`), SchemaVersion: 7}})
	require.NoError(t, err)
	res2, err := http.Get(srv.URL + "/events/streams/count-2")
	require.NoError(t, err)
	res2.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, res2.StatusCode)
}
