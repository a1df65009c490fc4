package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
)

// Read your writes from the event feed: a client sends back the position
// its append returned in the X-Min-Position header, and the feed's reads
// see at least that append. With a postgres.Replica as the store, they
// wait for the standby (or read the primary); a store that reads from its
// primary, such as this in-memory one, sees every write anyway.
func ExampleReadYourWrites() {
	store := memory.New() // postgres.NewReplica(primary, standby) in production
	res, _ := store.AppendToStream(context.Background(), "cart-1", []eventstore.EventData{
		{Type: "ItemAdded", Data: []byte(`{"sku":"shoes"}`)},
	})

	mux := http.NewServeMux()
	mux.Handle("/events/", httpapi.ReadYourWrites(http.StripPrefix("/events", httpapi.NewStreams(store))))

	var page httpapi.StreamPage
	resp := do(mux, "GET", "/events/streams/cart-1", "", httpapi.MinPositionHeader, res.Position.String())
	json.NewDecoder(resp.Body).Decode(&page)
	fmt.Println(resp.Status, len(page.Events), "event")
	show(do(mux, "GET", "/events/streams/cart-1", "", httpapi.MinPositionHeader, "yesterday"))
	// Output:
	// 200 OK 1 event
	// 400 Bad Request
	// {"type":"about:blank","title":"Bad Request","status":400,"detail":"X-Min-Position header: not a position","instance":"/events/streams/cart-1","in":"header","name":"X-Min-Position"}
}
