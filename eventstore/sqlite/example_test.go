package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
)

type ProductItemAdded struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

type ShoppingCartConfirmed struct{}

// Open a store in a database file, append the events of a new stream and
// read them back.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "emmett-example")
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	res, err := store.AppendToStream(ctx, "shopping_cart-1", []eventstore.EventData{
		{Type: "ProductItemAdded", Data: []byte(`{"productId":"tea","quantity":2}`)},
		{Type: "ShoppingCartConfirmed", Data: []byte(`{}`)},
	}, eventstore.ExpectNoStream())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version:", res.NextExpectedVersion, "created:", res.Created)

	for e, err := range store.ReadStream(ctx, "shopping_cart-1") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.StreamPosition, e.Type, string(e.Data))
	}
	// Output:
	// version: 2 created: true
	// 1 ProductItemAdded {"productId":"tea","quantity":2}
	// 2 ShoppingCartConfirmed {}
}

// Append typed events, encoded with their registry, with an expected
// version: an append against a stale version is refused.
func ExampleStore_AppendToStream() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	registry := emmett.NewEvents[any](ProductItemAdded{}, ShoppingCartConfirmed{})
	md := emmett.Metadata{CorrelationID: "request-42"}
	events, err := eventstore.Encode(registry, []any{ProductItemAdded{ProductID: "tea", Quantity: 2}}, md)
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, "shopping_cart-7", events, eventstore.ExpectNoStream())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended at version", res.NextExpectedVersion)

	// A second writer that also expected a new stream loses.
	confirm, _ := eventstore.Encode(registry, []any{ShoppingCartConfirmed{}}, md)
	_, err = store.AppendToStream(ctx, "shopping_cart-7", confirm, eventstore.ExpectNoStream())
	var conflict *eventstore.VersionConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: stream is at version", conflict.Actual)
	}
	// Retrying with the version it now knows succeeds.
	res, err = store.AppendToStream(ctx, "shopping_cart-7", confirm, eventstore.ExpectVersion(conflict.Actual))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended at version", res.NextExpectedVersion)
	// Output:
	// appended at version 1
	// conflict: stream is at version 1
	// appended at version 2
}

// Read a stream in ranges, and the global log after a position, decoding
// the events into their Go types.
func ExampleStore_ReadStream() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	registry := emmett.NewEvents[any](ProductItemAdded{}, ShoppingCartConfirmed{})
	for i := 1; i <= 5; i++ {
		events, _ := eventstore.Encode(registry, []any{ProductItemAdded{ProductID: fmt.Sprint("p", i), Quantity: i}}, emmett.Metadata{})
		if _, err := store.AppendToStream(ctx, "shopping_cart-9", events); err != nil {
			log.Fatal(err)
		}
	}

	// Positions 2 to 4 of the stream.
	for e, err := range store.ReadStream(ctx, "shopping_cart-9", eventstore.FromVersion(2), eventstore.ToVersion(4)) {
		if err != nil {
			log.Fatal(err)
		}
		rec, err := registry.DecodeRecorded(e)
		if err != nil {
			log.Fatal(err)
		}
		added := rec.Event.(ProductItemAdded)
		fmt.Println(rec.StreamPosition, added.ProductID, added.Quantity)
	}

	// The global log, two events at a time after position 3.
	for e, err := range store.ReadAll(ctx, eventstore.Position{GlobalPosition: 3}, eventstore.MaxCount(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("global", e.GlobalPosition, e.StreamName)
	}
	// Output:
	// 2 p2 2
	// 3 p3 3
	// 4 p4 4
	// global 4 shopping_cart-9
	// global 5 shopping_cart-9
}

// Use a *sql.DB the application opened itself, with any database/sql SQLite
// driver: here modernc.org/sqlite with the settings Open would choose.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "emmett-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")

	writer, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	defer writer.Close()
	writer.SetMaxOpenConns(1)
	readers, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		log.Fatal(err)
	}
	defer readers.Close()

	store, err := sqlite.New(ctx, writer, readers)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	if _, err := store.AppendToStream(ctx, "order-1", []eventstore.EventData{{Type: "OrderPlaced", Data: []byte(`{"total":12}`)}}); err != nil {
		log.Fatal(err)
	}
	version, exists, err := store.StreamVersion(ctx, "order-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(version, exists)
	// Output: 1 true
}
