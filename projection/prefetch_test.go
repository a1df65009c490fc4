package projection_test

import (
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
)

func TestDocumentProjectionPrefetch(t *testing.T) {
	added := func(stream, client string) emmett.RecordedEvent {
		return emmett.RecordedEvent{Type: "ItemAdded", StreamName: stream, Data: []byte(`{"client":"` + client + `","price":1}`)}
	}
	t.Run("SingleStream", func(t *testing.T) {
		var p projection.Prefetcher = projection.SingleStream("cart_summaries", cartEvents, evolveSummary)
		collection, ids := p.Prefetch([]emmett.RecordedEvent{added("cart-1", "ann"), added("cart-2", "bob"), added("cart-1", "ann")})
		assert.Equal(t, "cart_summaries", collection)
		assert.Equal(t, []string{"cart-1", "cart-2"}, ids, "the streams, each once")
	})
	t.Run("MultiStream", func(t *testing.T) {
		var p projection.Prefetcher = projection.MultiStream("client_totals", cartEvents,
			func(e emmett.Recorded[CartEvent]) []string { return []string{e.Event.(ItemAdded).Client} },
			func(doc *ClientTotals, e emmett.Recorded[CartEvent]) *ClientTotals { return doc })
		undecodable := emmett.RecordedEvent{Type: "ItemAdded", StreamName: "cart-3", Data: []byte(`{"client":`)}
		collection, ids := p.Prefetch([]emmett.RecordedEvent{added("cart-1", "ann"), undecodable, added("cart-2", "bob"), added("cart-3", "ann")})
		assert.Equal(t, "client_totals", collection)
		assert.Equal(t, []string{"ann", "bob"}, ids, "the ids the events name, each once; an event that does not decode names none")
	})
}
