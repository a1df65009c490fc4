package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
)

// CartSummary is a read model: one document per cart.
type CartSummary struct {
	CartID string `json:"cartId"`
	Items  int    `json:"items"`
}

// cartSummaries keeps a CartSummary per cart stream, in the collection
// (table) cart_summaries.
var cartSummaries = projection.SingleStream("cart_summaries", cartEvents,
	func(doc *CartSummary, e emmett.Recorded[CartEvent]) *CartSummary {
		if doc == nil {
			doc = &CartSummary{}
		}
		switch ev := e.Event.(type) {
		case CartOpened:
			doc.CartID = ev.CartID
		case ItemAdded:
			doc.Items += ev.Quantity
		}
		return doc
	})

// An inline projection runs in the append's transaction: its document is
// there as soon as the append returns, and read back through a typed
// Collection, by id, by query, or with plain SQL on the JSONB table.
func ExampleWithProjections() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithProjections(cartSummaries))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	events, err := eventstore.Encode(cartEvents,
		[]CartEvent{CartOpened{CartID: "42"}, ItemAdded{ProductID: "p-1", Quantity: 2}}, emmett.Metadata{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.AppendToStream(ctx, "cart-42", events); err != nil {
		log.Fatal(err) // a projection's error rolls the append back
	}

	carts := cartSummaries.Collection(store.Documents())
	summary, found, err := carts.Get(ctx, "cart-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found, summary.Items)

	// Conditions run as SQL on the jsonb column (containment, which the GIN
	// index serves where projection.ContainsIndex declares it).
	withTwo, err := carts.Find(ctx, projection.Eq("cartId", "42"), projection.Contains(map[string]any{"items": 2}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(withTwo))

	var items int
	if err := store.Pool().QueryRow(ctx, `SELECT (data->>'items')::int FROM cart_summaries WHERE _id = $1`, "cart-42").Scan(&items); err != nil {
		log.Fatal(err)
	}
	fmt.Println(items)
}

// An asynchronous projector follows the log through the store's Source, its
// documents and checkpoint in one transaction per batch; one instance of
// it runs at a time across processes. WaitFor gives read-your-writes.
func ExampleStore_Source() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	projector := projection.NewProjectionProcessor(store.Processors(), store.Source(), cartSummaries)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		if err := projector.Run(runCtx); err != nil {
			log.Print(err)
		}
	}()

	events, _ := eventstore.Encode(cartEvents, []CartEvent{ItemAdded{ProductID: "p-2", Quantity: 1}}, emmett.Metadata{})
	res, err := store.AppendToStream(ctx, "cart-42", events)
	if err != nil {
		log.Fatal(err)
	}
	if err := projector.WaitFor(ctx, res.Position); err != nil {
		log.Fatal(err)
	}
	summary, _, err := cartSummaries.Collection(store.Documents()).Get(ctx, "cart-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(summary.Items)
}
