package postgres_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
)

// Open a store through a transaction-mode pooler (PgBouncer with
// pool_mode = transaction): no named prepared statements, processor locks
// as leases on their rows, and sources that poll. A processor runs in one
// instance at a time, as on a direct connection; another instance takes it
// over at most a lease (20 s by default) after its holder died.
func ExampleWithPooler() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("PGBOUNCER_URL"), postgres.WithPooler())
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	summaries := projection.NewProjectionProcessor(store.Processors(),
		store.Source(projection.PollInterval(500*time.Millisecond)), cartSummaries)
	if err := summaries.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// Processor locks as leases on a direct connection: a lease holds no
// connection (an advisory lock keeps one per running processor), at the
// price of a takeover that waits for the lease to expire.
func ExampleWithLeaseLocks() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithLeaseLocks(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	lock, err := store.Processors().Lock(ctx, "cart-summaries")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = lock.Release(ctx) }()
	select {
	case <-lock.Lost(): // another instance took it over: stop working
	case <-ctx.Done():
	}
}
