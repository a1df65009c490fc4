package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
)

// CartEvent is the event family of the projection examples.
type CartEvent interface{ isCartEvent() }

// ItemAdded adds an item to a cart.
type ItemAdded struct {
	Client string  `json:"client"`
	Price  float64 `json:"price"`
}

// CartConfirmed confirms a cart.
type CartConfirmed struct{}

func (ItemAdded) isCartEvent()     {}
func (CartConfirmed) isCartEvent() {}

// CartSummary is the read model: one document per cart.
type CartSummary struct {
	Client    string  `json:"client"`
	Items     int     `json:"items"`
	Total     float64 `json:"total"`
	Confirmed bool    `json:"confirmed"`
}

func cartSummaries() *projection.DocumentProjection[CartSummary, CartEvent] {
	return projection.SingleStream("cart_summaries", emmett.NewEvents[CartEvent](ItemAdded{}, CartConfirmed{}),
		func(doc *CartSummary, e emmett.Recorded[CartEvent]) *CartSummary {
			if doc == nil {
				doc = &CartSummary{}
			}
			switch ev := e.Event.(type) {
			case ItemAdded:
				doc.Client = ev.Client
				doc.Items++
				doc.Total += ev.Price
			case CartConfirmed:
				doc.Confirmed = true
			}
			return doc
		})
}

func appendCart(ctx context.Context, store eventstore.Store, stream string, events ...CartEvent) {
	registry := emmett.NewEvents[CartEvent](ItemAdded{}, CartConfirmed{})
	data, err := eventstore.Encode(registry, events, emmett.Metadata{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.AppendToStream(ctx, stream, data); err != nil {
		log.Fatal(err)
	}
}

// Register an inline projection: it runs in every append's transaction, so
// its documents are there as soon as the append returns. Read them back
// through the projection's typed Collection.
func ExampleWithProjections() {
	ctx := context.Background()
	summaries := cartSummaries()
	store, err := sqlite.Open(ctx, ":memory:", sqlite.WithProjections(summaries))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Price: 4.5}, ItemAdded{Client: "ann", Price: 2})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Price: 10})
	appendCart(ctx, store, "cart-1", CartConfirmed{})

	carts := summaries.Collection(store.Documents())
	cart, found, err := carts.Get(ctx, "cart-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cart-1: found %v, %d items, total %.2f, confirmed %v\n", found, cart.Items, cart.Total, cart.Confirmed)

	open, err := carts.Find(ctx, projection.Eq("confirmed", false))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range open {
		fmt.Println("open cart of", c.Client)
	}
	n, err := carts.Count(ctx, projection.Contains(map[string]any{"client": "ann"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("carts of ann:", n)
	// Output:
	// cart-1: found true, 2 items, total 6.50, confirmed true
	// open cart of bob
	// carts of ann: 1
}

// Documents are rows of a table named after the collection, with the
// document's JSON in data: plain SQL reads them with SQLite's JSON
// functions.
func ExampleStore_Documents() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "emmett-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	store, err := sqlite.Open(ctx, path, sqlite.WithProjections(cartSummaries()))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Price: 4.5}, ItemAdded{Client: "ann", Price: 2})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Price: 10})

	db, err := sql.Open("sqlite", path)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT _id, json_extract(data, '$.total'), _version FROM cart_summaries ORDER BY _id`)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var total float64
		var version int
		if err := rows.Scan(&id, &total, &version); err != nil {
			log.Fatal(err)
		}
		fmt.Println(id, total, version)
	}
	// Output:
	// cart-1 6.5 1
	// cart-2 10 1
}

// Run a projection asynchronously: a projector reads the store's global log
// from its Source, stores its checkpoint in emt_processors in the same
// transaction as its documents, and holds the processor's lock, so that
// one instance runs it at a time, across processes. WaitFor gives read
// your writes.
func ExampleStore_Source() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	summaries := cartSummaries()
	projector := projection.NewProjectionProcessor(store.Processors(), store.Source(), summaries)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- projector.Run(runCtx) }()

	registry := emmett.NewEvents[CartEvent](ItemAdded{}, CartConfirmed{})
	data, _ := eventstore.Encode(registry, []CartEvent{ItemAdded{Client: "ann", Price: 3}}, emmett.Metadata{})
	res, err := store.AppendToStream(ctx, "cart-7", data)
	if err != nil {
		log.Fatal(err)
	}
	if err := projector.WaitFor(ctx, res.Position); err != nil {
		log.Fatal(err)
	}
	cart, _, _ := summaries.Collection(store.Documents()).Get(ctx, "cart-7")
	fmt.Println("cart-7 total:", cart.Total)

	checkpoint, _, _ := store.Processors().ReadCheckpoint(ctx, summaries.Name())
	fmt.Println("checkpoint:", checkpoint)
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// cart-7 total: 3
	// checkpoint: 1
}
