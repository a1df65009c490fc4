package postgres_test

// The examples need a PostgreSQL server, so they are compiled but not run;
// the tests of this package run the same calls against a real one.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type CartOpened struct {
	CartID string `json:"cartId"`
}

type ItemAdded struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

type CartEvent interface{}

var cartEvents = emmett.NewEvents[CartEvent](CartOpened{}, ItemAdded{})

// Open a store (creating or upgrading the schema), append typed events and
// read them back.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	events, err := eventstore.Encode(cartEvents,
		[]CartEvent{CartOpened{CartID: "42"}, ItemAdded{ProductID: "p-1", Quantity: 2}},
		emmett.Metadata{CorrelationID: "req-1"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, "cart-42", events, eventstore.ExpectNoStream())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", res.NextExpectedVersion)

	for rec, err := range store.ReadStream(ctx, "cart-42") {
		if err != nil {
			log.Fatal(err)
		}
		ev, err := cartEvents.DecodeRecorded(rec)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %T %+v\n", rec.StreamPosition, ev.Event, ev.Event)
	}
}

// An append with an exact expected version fails with a version conflict
// when another append got there first; an append whose commit was not
// confirmed says so.
func ExampleStore_AppendToStream() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	events, _ := eventstore.Encode(cartEvents, []CartEvent{ItemAdded{ProductID: "p-2", Quantity: 1}}, emmett.Metadata{})
	_, err = store.AppendToStream(ctx, "cart-42", events, eventstore.ExpectVersion(2))
	var conflict *eventstore.VersionConflictError
	switch {
	case errors.As(err, &conflict):
		fmt.Println("the cart is at version", conflict.Actual, "now: load it again and decide again")
	case errors.Is(err, eventstore.ErrOutcomeUnknown):
		fmt.Println("the connection was lost while committing: read the stream before trying again")
	case err != nil:
		log.Fatal(err) // nothing was stored
	}
}

// Source follows the global log, for a processor: every event once, in
// order, whatever order concurrent appends commit in. A Processor keeps the
// checkpoint; a handler of the source's batches would checkpoint each
// batch's End to resume after it.
func ExampleStore_Source_subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithListen())
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	var checkpoint eventstore.Position // loaded from where the processor keeps it
	source := store.Source(projection.PollBatchSize(100))
	err = source.Subscribe(ctx, checkpoint, func(_ context.Context, b projection.Batch) error {
		for _, rec := range b.Events {
			fmt.Println(rec.StreamName, rec.Type)
		}
		checkpoint = b.End
		return nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Print(err)
	}
}

// A tenant is a partition: create it, then append and read in it.
func ExampleStore_AddPartition() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	if err := store.AddPartition(ctx, "tenant:acme"); err != nil {
		log.Fatal(err)
	}
	acme := eventstore.InPartition("tenant:acme")
	events, _ := eventstore.Encode(cartEvents, []CartEvent{CartOpened{CartID: "7"}}, emmett.Metadata{})
	if _, err := store.AppendToStream(ctx, "cart-7", events, acme); err != nil {
		log.Fatal(err)
	}
	for rec, err := range store.ReadAll(ctx, eventstore.Position{}, acme) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.StreamName)
	}
}

// A before-commit hook updates a read model in the append's own transaction:
// both are stored, or neither.
func ExampleWithBeforeCommit() {
	ctx := context.Background()
	countItems := func(ctx context.Context, tx pgx.Tx, partition string, res eventstore.AppendResult) error {
		for _, e := range res.Events {
			if e.Type != "ItemAdded" {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cart_items (cart, items) VALUES ($1, 1)
ON CONFLICT (cart) DO UPDATE SET items = cart_items.items + 1`, e.StreamName); err != nil {
				return err
			}
		}
		return nil
	}
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithBeforeCommit(countItems))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()
}

// Append together with the application's own writes, in its transaction.
func ExampleStore_AppendToStreamTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := postgres.New(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	events, _ := eventstore.Encode(cartEvents, []CartEvent{CartOpened{CartID: "9"}}, emmett.Metadata{})
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := store.AppendToStreamTx(ctx, tx, "cart-9", events, eventstore.ExpectNoStream()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO outbox (topic, payload) VALUES ('carts', '{\"opened\":\"9\"}')")
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Migrate the schema on its own (at deployment), and open stores without
// migrating.
func ExampleMigrate() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		log.Fatal(err)
	}
	store, err := postgres.New(ctx, pool, postgres.WithoutMigration())
	if err != nil {
		log.Fatal(err)
	}
	_ = store
}
