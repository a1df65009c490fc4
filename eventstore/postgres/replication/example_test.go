package replication_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
)

// The events and read model of the example.
type (
	CartEvent   interface{ isCartEvent() }
	ItemAdded   struct{ Quantity int }
	CartSummary struct{ Items int }
)

func (ItemAdded) isCartEvent() {}

// A projector on the replication feed, and a read of its own write.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://app@db/shop")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	events := emmett.NewEvents[CartEvent](ItemAdded{})
	summaries := projection.SingleStream("cart_summaries", events,
		func(doc *CartSummary, e emmett.Recorded[CartEvent]) *CartSummary {
			if doc == nil {
				doc = &CartSummary{}
			}
			doc.Items += e.Event.(ItemAdded).Quantity
			return doc
		})
	// Logical replication where the server allows it, polling otherwise
	// (the log says which, and why).
	source, err := replication.Auto(ctx, store, summaries.Name())
	if err != nil {
		log.Fatal(err)
	}
	p := projection.NewProjectionProcessor(store.Processors(), source, summaries)
	go func() {
		if err := p.Run(ctx); err != nil {
			log.Print(err) // a *replication.SlotError says how to recover
		}
	}()

	data, err := eventstore.Encode(events, []CartEvent{ItemAdded{Quantity: 2}}, emmett.Metadata{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, "cart-1", data)
	if err != nil {
		log.Fatal(err)
	}
	// Read your write: wait until the projector applied the append.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.WaitFor(wctx, res.Position); err != nil {
		log.Fatal(err)
	}
	summary, _, err := summaries.Collection(store.Documents()).Get(ctx, "cart-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(summary.Items)
}

// The state of a processor's slot, for metrics or a command-line tool.
func ExampleSource_Status() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://app@db/shop")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	source, err := replication.NewSource(store, "counters")
	if err != nil {
		log.Fatal(err)
	}
	st, err := source.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("slot %s: active %v (pid %d), wal_status %s, retaining %d bytes, %d bytes behind\n",
		st.Slot, st.Active, st.ActivePID, st.WALStatus, st.RetainedBytes, st.LagBytes)
}

// Retiring the replication feed from a database: the processors' slots
// first (they keep WAL on the server), then the publication, which is not
// dropped while a pgoutput slot of the database remains.
func ExampleDropPublication() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://app@db/shop")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	for _, id := range []string{"cart_summaries", "shipping"} {
		source, err := replication.NewSource(store, id)
		if err != nil {
			log.Fatal(err)
		}
		if err := source.DropSlot(ctx); err != nil {
			log.Fatal(err)
		}
	}
	err = replication.DropPublication(ctx, store, replication.DefaultPublication)
	if errors.Is(err, replication.ErrPublicationInUse) {
		log.Fatalf("other slots still read the database: %v", err)
	} else if err != nil {
		log.Fatal(err)
	}
}
