package postgres_test

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
)

// Write to the primary, read from a streaming-replication standby, and
// read your own writes: the append's position, carried by the context,
// makes the read wait until the standby has replayed it (or read from the
// primary after WithReplicaWait; or fail, WithoutPrimaryFallback).
func ExampleReplica() {
	ctx := context.Background()
	primary, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = primary.Close() }()
	// A standby refuses DDL: open its store without migrating.
	standby, err := postgres.Open(ctx, os.Getenv("STANDBY_URL"), postgres.WithoutMigration())
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = standby.Close() }()
	store := postgres.NewReplica(primary, standby, postgres.WithReplicaWait(500*time.Millisecond))

	events, err := eventstore.Encode(cartEvents, []CartEvent{CartOpened{CartID: "42"}}, emmett.Metadata{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, "cart-42", events)
	if err != nil {
		log.Fatal(err)
	}
	// Without the position, the standby is read as it is: the cart may
	// not be there yet. With it, the read sees the append.
	readCtx := eventstore.WithMinPosition(ctx, res.Position)
	for rec, err := range store.ReadStream(readCtx, "cart-42") {
		if errors.Is(err, postgres.ErrReplicaBehind) {
			log.Fatal("the standby is behind, and the primary must not be read")
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.StreamPosition, rec.Type)
	}
}
