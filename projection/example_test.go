package projection_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
)

// The examples run on the in-memory store; the SQLite and PostgreSQL
// stores take the same projections (sqlite.WithProjections,
// postgres.WithProjections) and give the same answers.

// CartEvent is the event family of the examples: shopping carts.
type CartEvent interface{ isCartEvent() }

// ItemAdded adds an item to a cart.
type ItemAdded struct {
	Client  string  `json:"client"`
	Product string  `json:"product"`
	Price   float64 `json:"price"`
}

// CartConfirmed confirms a cart.
type CartConfirmed struct{}

// CartCancelled cancels a cart.
type CartCancelled struct{}

func (ItemAdded) isCartEvent()     {}
func (CartConfirmed) isCartEvent() {}
func (CartCancelled) isCartEvent() {}

var cartEvents = emmett.NewEvents[CartEvent](ItemAdded{}, CartConfirmed{}, CartCancelled{})

// CartSummary is a read model with one document per cart.
type CartSummary struct {
	Client    string   `json:"client"`
	Products  []string `json:"products"`
	Total     float64  `json:"total"`
	Confirmed bool     `json:"confirmed"`
}

// evolveSummary folds a cart's events into its summary; a cancelled cart
// has none (returning nil deletes the document).
func evolveSummary(doc *CartSummary, e emmett.Recorded[CartEvent]) *CartSummary {
	if doc == nil {
		doc = &CartSummary{}
	}
	switch ev := e.Event.(type) {
	case ItemAdded:
		doc.Client = ev.Client
		doc.Products = append(doc.Products, ev.Product)
		doc.Total += ev.Price
	case CartConfirmed:
		doc.Confirmed = true
	case CartCancelled:
		return nil
	}
	return doc
}

// appendCart appends events to a cart's stream and returns where the last
// one is in the global log.
func appendCart(ctx context.Context, store eventstore.Store, cart string, events ...CartEvent) eventstore.Position {
	data, err := eventstore.Encode(cartEvents, events, emmett.Metadata{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, cart, data)
	if err != nil {
		log.Fatal(err)
	}
	return res.Position
}

// A single-stream projection keeps one document per stream, with the
// stream name as its id. Registered inline, it runs in the transaction of
// every append: its document is up to date as soon as the append returns.
func ExampleSingleStream() {
	ctx := context.Background()
	summaries := projection.SingleStream("cart_summaries", cartEvents, evolveSummary)
	store := memory.New(memory.WithProjections(summaries))

	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4.5})
	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "mug", Price: 8}, CartConfirmed{})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "tea", Price: 4.5})
	appendCart(ctx, store, "cart-2", CartCancelled{})

	carts := summaries.Collection(store.Documents())
	cart, found, err := carts.Get(ctx, "cart-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cart-1: found %v, %s of %s, total %.2f, confirmed %v\n",
		found, strings.Join(cart.Products, " and "), cart.Client, cart.Total, cart.Confirmed)
	_, found, _ = carts.Get(ctx, "cart-2")
	fmt.Println("cart-2 found:", found)
	// Output:
	// cart-1: found true, tea and mug of ann, total 12.50, confirmed true
	// cart-2 found: false
}

// ClientTotals is a read model across streams: one document per client,
// gathering the carts of that client.
type ClientTotals struct {
	Client string  `json:"client"`
	Items  int     `json:"items"`
	Spent  float64 `json:"spent"`
}

// A multi-stream projection computes the ids of the documents each event
// changes: here one per client, whichever cart the item went into. It
// handles only the event types of the registry it is given.
func ExampleMultiStream() {
	ctx := context.Background()
	totals := projection.MultiStream("client_totals", emmett.NewEvents[CartEvent](ItemAdded{}),
		func(e emmett.Recorded[CartEvent]) []string { return []string{e.Event.(ItemAdded).Client} },
		func(doc *ClientTotals, e emmett.Recorded[CartEvent]) *ClientTotals {
			added := e.Event.(ItemAdded)
			if doc == nil {
				doc = &ClientTotals{Client: added.Client}
			}
			doc.Items++
			doc.Spent += added.Price
			return doc
		})
	store := memory.New(memory.WithProjections(totals))

	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4.5}, CartConfirmed{})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "mug", Price: 8})
	appendCart(ctx, store, "cart-3", ItemAdded{Client: "ann", Product: "pot", Price: 20})

	all, err := totals.Collection(store.Documents()).Find(ctx) // no condition: every document, in id order
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range all {
		fmt.Printf("%s: %d items, %.2f\n", t.Client, t.Items, t.Spent)
	}
	// Output:
	// ann: 2 items, 24.50
	// bob: 1 items, 8.00
}

// A custom projection gets each batch of decoded events and the
// transaction, and writes what it likes: documents through
// tx.Documents(), or tables of its own through tx.Unwrap() (a *sql.Tx on
// SQLite, a pgx.Tx on PostgreSQL). Its reset function removes what it
// wrote, for a rebuild.
func ExampleCustom() {
	ctx := context.Background()
	type productSales struct {
		Sold int `json:"sold"`
	}
	sales := projection.Custom("product_sales", emmett.NewEvents[CartEvent](ItemAdded{}),
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[CartEvent]) error {
			products := projection.NewCollection[productSales](tx.Documents(), "product_sales")
			for _, e := range events {
				name := e.Event.(ItemAdded).Product
				doc, _, err := products.Get(ctx, name)
				if err != nil {
					return err
				}
				doc.Sold++
				if err := products.Put(ctx, name, doc); err != nil {
					return err
				}
			}
			return nil
		},
		func(ctx context.Context, tx projection.Tx) error {
			return tx.Documents().DeleteAll(ctx, "product_sales")
		})
	store := memory.New(memory.WithProjections(sales))

	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea"}, ItemAdded{Client: "ann", Product: "mug"})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "tea"}, CartConfirmed{})

	for doc, err := range store.Documents().Find(ctx, "product_sales", projection.Query{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(doc.ID, string(doc.Data))
	}
	fmt.Println("handles", sales.EventTypes())
	// Output:
	// mug {"sold":1}
	// tea {"sold":2}
	// handles [ItemAdded]
}

// An inline projection that fails rolls the append back: nothing is
// stored, and the error names the projection and the event.
func ExampleError() {
	ctx := context.Background()
	strict := projection.Custom("no_free_items", emmett.NewEvents[CartEvent](ItemAdded{}),
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[CartEvent]) error {
			for _, e := range events {
				if e.Event.(ItemAdded).Price <= 0 {
					return &projection.Error{Projection: "no_free_items", Event: e.RecordedEvent, Err: errors.New("free item")}
				}
			}
			return nil
		}, nil)
	store := memory.New(memory.WithProjections(strict))

	data, _ := eventstore.Encode(cartEvents, []CartEvent{ItemAdded{Client: "ann", Product: "gift"}}, emmett.Metadata{})
	_, err := store.AppendToStream(ctx, "cart-1", data)
	fmt.Println(err)
	var perr *projection.Error
	if errors.As(err, &perr) {
		fmt.Println("projection:", perr.Projection)
		fmt.Println("event:", perr.Event.Type, "of", perr.Event.StreamName)
		fmt.Println("cause:", perr.Err)
	}
	_, exists, _ := store.StreamVersion(ctx, "cart-1")
	fmt.Println("stream exists:", exists)
	// Output:
	// projection "no_free_items": event "ItemAdded" at 1 (stream "cart-1" position 1): free item
	// projection: no_free_items
	// event: ItemAdded of cart-1
	// cause: free item
	// stream exists: false
}

// A projector runs a projection asynchronously: it reads the store's
// global log from a Source, and stores its checkpoint in the same
// transaction as its documents. Run it in a goroutine of its own; WaitFor
// waits until it has applied an append, to read your own writes.
func ExampleNewProjectionProcessor() {
	ctx := context.Background()
	store := memory.New()
	summaries := projection.SingleStream("cart_summaries", cartEvents, evolveSummary)
	projector := projection.NewProjectionProcessor(store.Processors(), store.Source(), summaries)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- projector.Run(runCtx) }()

	pos := appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4.5}, CartConfirmed{})
	if err := projector.WaitFor(ctx, pos); err != nil {
		log.Fatal(err)
	}
	cart, _, err := summaries.Collection(store.Documents()).Get(ctx, "cart-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cart-1 confirmed:", cart.Confirmed)
	checkpoint, _, _ := store.Processors().ReadCheckpoint(ctx, projector.ID())
	fmt.Println("processor", projector.ID(), "checkpoint", checkpoint)

	stop() // Run returns nil once its context ends
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// cart-1 confirmed: true
	// processor cart_summaries checkpoint 2
}

// A reactor runs a side effect per event of the types it names, and
// checkpoints after it: at least once, so the effect uses the event's
// MessageID to be idempotent. A new reactor starts at the beginning of the
// log, at its end (StartFromEnd), or after a position: here the carts
// confirmed before it was deployed were mailed by the system it replaces.
func ExampleNewReactorProcessor() {
	ctx := context.Background()
	store := memory.New()
	mailedBefore := appendCart(ctx, store, "cart-1", CartConfirmed{})

	sent := map[string]bool{} // stands for the mailer's own record of what it sent
	reactor := projection.NewReactorProcessor(store.Processors(), store.Source(), "confirmation_mails",
		[]string{"CartConfirmed"},
		func(ctx context.Context, e emmett.RecordedEvent) error {
			if sent[e.MessageID] {
				return nil
			}
			sent[e.MessageID] = true
			fmt.Println("mail: your", e.StreamName, "is confirmed")
			return nil
		}, projection.StartAfter(mailedBefore))

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reactor.Run(runCtx) }()

	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "tea", Price: 4.5})
	pos := appendCart(ctx, store, "cart-2", CartConfirmed{})
	if err := reactor.WaitFor(ctx, pos); err != nil {
		log.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// mail: your cart-2 is confirmed
}

// ResetAndRebuild empties a projection's read model (its Reset) and replays the
// whole log into it, reporting progress: here to bring back documents that
// were damaged, in batches of two events.
func ExampleProcessor_ResetAndRebuild() {
	ctx := context.Background()
	store := memory.New()
	summaries := projection.SingleStream("cart_summaries", cartEvents, evolveSummary)
	projector := projection.NewProjectionProcessor(store.Processors(), store.Source(projection.PollBatchSize(2)), summaries)

	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4.5}, CartConfirmed{})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "mug", Price: 8})
	appendCart(ctx, store, "cart-3", ItemAdded{Client: "cy", Product: "pot", Price: 20}, CartCancelled{})

	carts := summaries.Collection(store.Documents())
	_ = carts.Put(ctx, "cart-2", CartSummary{Client: "bob", Total: -1}) // damaged
	_ = carts.Put(ctx, "cart-9", CartSummary{Client: "nobody"})         // stray

	// With no instance running the projector, ResetAndRebuild runs it here
	// until it has caught up with the log as it was when it was called.
	err := projector.ResetAndRebuild(ctx, func(p projection.Progress) {
		fmt.Printf("rebuilt %d of %d events\n", p.Done, p.Total)
	})
	if err != nil {
		log.Fatal(err)
	}
	all, _ := carts.Find(ctx)
	for _, c := range all {
		fmt.Printf("%s: %.2f\n", c.Client, c.Total)
	}
	// Output:
	// rebuilt 0 of 5 events
	// rebuilt 2 of 5 events
	// rebuilt 4 of 5 events
	// rebuilt 5 of 5 events
	// ann: 4.50
	// bob: 8.00
}

// CartSummaryV2 is version 2 of the cart summary: it adds the number of
// items.
type CartSummaryV2 struct {
	CartSummary
	Items int `json:"items"`
}

// WithVersion rebuilds a read model without downtime: version 2 of the
// summaries is built, in a collection of its own, beside version 1, which
// serves reads until version 2 has caught up; then reads switch to it at
// once, and version 1's documents stay until dropped.
func ExampleWithVersion() {
	ctx := context.Background()
	store := memory.New()
	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4.5}, ItemAdded{Client: "ann", Product: "cup", Price: 3})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "mug", Price: 8})

	v1 := projection.SingleStream("cart_summaries", cartEvents, evolveSummary)
	v2 := projection.SingleStream("cart_summaries", cartEvents, func(doc *CartSummaryV2, e emmett.Recorded[CartEvent]) *CartSummaryV2 {
		if doc == nil {
			doc = &CartSummaryV2{}
		}
		if s := evolveSummary(&doc.CartSummary, e); s == nil {
			return nil
		}
		if _, ok := e.Event.(ItemAdded); ok {
			doc.Items++
		}
		return doc
	}, projection.WithVersion(2))
	fmt.Println(v1.CollectionName(), v2.CollectionName())

	// The release before ran version 1.
	p1 := projection.NewProjectionProcessor(store.Processors(), store.Source(), v1)
	if err := p1.CatchUp(ctx); err != nil {
		log.Fatal(err)
	}
	reads := v2.Collection(store.Documents()) // reads the active version
	doc, _, _ := reads.Get(ctx, "cart-1")
	fmt.Printf("before: %s %.2f, %d items\n", doc.Client, doc.Total, doc.Items)

	// This release runs both; version 2 builds, then becomes active.
	p2 := projection.NewProjectionProcessor(store.Processors(), store.Source(), v2)
	if err := p2.CatchUp(ctx); err != nil {
		log.Fatal(err)
	}
	doc, _, _ = reads.Get(ctx, "cart-1")
	fmt.Printf("after: %s %.2f, %d items\n", doc.Client, doc.Total, doc.Items)
	versions, _ := projection.Versions(ctx, store.Processors(), "cart_summaries")
	for _, v := range versions {
		fmt.Println("version", v.Version, v.Status)
	}

	// Version 1 is dropped once no instance needs it.
	if err := projection.DropVersion(ctx, store.Processors(), "cart_summaries", 1); err != nil {
		log.Fatal(err)
	}
	n, _ := projection.NewCollection[CartSummary](store.Documents(), "cart_summaries").Count(ctx)
	fmt.Println("version 1 documents:", n)
	// Output:
	// cart_summaries cart_summaries_v2
	// before: ann 7.50, 0 items
	// after: ann 7.50, 2 items
	// version 1 inactive
	// version 2 active
	// version 1 documents: 0
}

// Product is the document of the query examples.
type Product struct {
	Name     string   `json:"name"`
	Price    float64  `json:"price"`
	Tags     []string `json:"tags"`
	Supplier Supplier `json:"supplier"`
}

// Supplier is a nested object of Product.
type Supplier struct {
	Country string `json:"country"`
}

// products returns a collection of products in a fresh store.
func products(ctx context.Context) projection.Collection[Product] {
	c := projection.NewCollection[Product](memory.New().Documents(), "products")
	for id, p := range map[string]Product{
		"p1": {Name: "tea", Price: 4.5, Tags: []string{"drink", "organic"}, Supplier: Supplier{Country: "IN"}},
		"p2": {Name: "mug", Price: 8, Tags: []string{"kitchen"}, Supplier: Supplier{Country: "FR"}},
		"p3": {Name: "coffee", Price: 8, Tags: []string{"drink"}, Supplier: Supplier{Country: "BR"}},
	} {
		if err := c.Put(ctx, id, p); err != nil {
			log.Fatal(err)
		}
	}
	return c
}

// Eq compares the field at a path (dot-separated for nested objects) with
// a value, as JSON values: 8 and 8.0 are equal.
func ExampleEq() {
	ctx := context.Background()
	c := products(ctx)

	at8, _ := c.Find(ctx, projection.Eq("price", 8.0))
	for _, p := range at8 {
		fmt.Println("price 8:", p.Name)
	}
	french, found, _ := c.FindOne(ctx, projection.Eq("supplier.country", "FR"))
	fmt.Println("from FR:", french.Name, found)

	_, err := c.Find(ctx, projection.Eq("supplier..country", "FR"))
	fmt.Println(err)
	// Output:
	// price 8: mug
	// price 8: coffee
	// from FR: mug true
	// projection: invalid condition: invalid field path "supplier..country"
}

// Contains matches documents that contain a JSON value, as PostgreSQL's
// jsonb @> does: every field given, recursively, and every array element
// given, in any order. Conditions combine with AND.
func ExampleContains() {
	ctx := context.Background()
	c := products(ctx)

	drinks, _ := c.Count(ctx, projection.Contains(map[string]any{"tags": []string{"drink"}}))
	fmt.Println("drinks:", drinks)

	organic, _ := c.Find(ctx,
		projection.Contains(map[string]any{"tags": []string{"organic", "drink"}}),
		projection.Contains(map[string]any{"supplier": map[string]any{"country": "IN"}}))
	for _, p := range organic {
		fmt.Println("organic drink from IN:", p.Name)
	}
	// Output:
	// drinks: 2
	// organic drink from IN: tea
}

// A Collection is a typed view of a document store's collection: Put and
// Get encode and decode the documents, FindQuery bounds the result.
// Documents come back in id order.
func ExampleCollection() {
	ctx := context.Background()
	c := products(ctx)

	first, _ := c.FindQuery(ctx, projection.Query{Conditions: []projection.Condition{projection.Eq("price", 8)}, Limit: 1})
	fmt.Println("first at 8:", first[0].Name)

	if err := c.Delete(ctx, "p2"); err != nil {
		log.Fatal(err)
	}
	n, _ := c.Count(ctx)
	fmt.Println(n, "products left in", c.Name())
	// Output:
	// first at 8: mug
	// 2 products left in products
}

// WithIndexes declares the fields a read model is looked up by: here the
// carts of a client. The store creates the index with the collection (for
// an inline projection, when it opens), and Eq on the field reads it
// instead of every document. The in-memory store has no indexes and gives
// the same answers.
func ExampleWithIndexes() {
	ctx := context.Background()
	carts := projection.SingleStream("cart_summaries", cartEvents, evolveSummary, projection.WithIndexes("client"))
	fmt.Println(carts.Indexes())

	store := memory.New(memory.WithProjections(carts))
	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "mug", Price: 8})
	appendCart(ctx, store, "cart-3", ItemAdded{Client: "ann", Product: "coffee", Price: 8}, CartConfirmed{})

	anns, err := carts.Collection(store.Documents()).Find(ctx, projection.Eq("client", "ann"))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range anns {
		fmt.Println(c.Client, c.Products, c.Confirmed)
	}
	// Output:
	// [{cart_summaries client}]
	// ann [tea] false
	// ann [coffee] true
}
