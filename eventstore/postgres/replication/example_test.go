package replication_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
)

// A projector on the replication feed, and a read of its own write.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://app@db/shop")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	counters := projectiontest.Counters("counters")
	// Logical replication where the server allows it, polling otherwise.
	source, err := replication.Auto(ctx, store, replication.Options{ProcessorID: counters.Name()}, projection.PollingOptions{})
	if err != nil {
		log.Fatal(err)
	}
	p := projection.NewProjector(store, source, counters)
	go func() {
		if err := p.Run(ctx); err != nil {
			log.Print(err) // a *replication.SlotError says how to recover
		}
	}()

	data, _ := eventstore.Encode(projectiontest.Events, []projectiontest.Event{projectiontest.Incremented{By: 2}}, emmett.Metadata{})
	res, err := store.AppendToStream(ctx, "counter-1", data)
	if err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.WaitFor(wctx, res.Position); err != nil {
		log.Fatal(err)
	}
	doc, _, _ := counters.Collection(store.Documents()).Get(ctx, "counter-1")
	fmt.Println(doc.Total)
}

// The state of a processor's slot, for metrics or a command-line tool.
func ExampleSource_Status() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://app@db/shop")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	source, err := replication.NewSource(store, replication.Options{ProcessorID: "counters"})
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
