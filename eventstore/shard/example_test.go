package shard_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/shard"
	"github.com/emmett-go/emmett/projection"
)

// Tenants on two shards: a static map for the tenants known at start, a
// hook for the others (here: by their name's first letter). One command
// handler serves every tenant; a processor runs per shard. With
// PostgreSQL, each shard is a *postgres.Store on a server of its own.
func Example() {
	ctx := context.Background()
	shards := map[string]*memory.Store{"eu": memory.New(), "us": memory.New()} // postgres.Open(ctx, url) each
	router, err := shard.New(shards,
		shard.WithPartitions(map[string]string{"acme": "eu"}),
		shard.WithResolver(func(ctx context.Context, tenant string) (string, error) {
			if strings.HasPrefix(tenant, "u") {
				return "us", nil
			}
			return "", shard.ErrNoShard
		}))
	if err != nil {
		log.Fatal(err)
	}

	deposits := command.NewDeciderHandler(router, accounts, accountEvents)
	for _, tenant := range []string{"acme", "umbrella"} {
		if _, err := deposits.Handle(ctx, "account-1", Deposit{Amount: 10}, eventstore.InPartition(tenant)); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := deposits.Handle(ctx, "account-1", Deposit{Amount: 10}, eventstore.InPartition("globex")); err != nil {
		fmt.Println(err)
	}

	// One processor per shard, each reading its shard's own log (Run
	// them; here each catches up once).
	totals := balances("balances")
	processors := shard.Build(router, func(_ string, store *memory.Store) *projection.Processor {
		return projection.NewProjectionProcessor(store.Processors(), store.Source(), totals)
	})
	for _, p := range processors.All() {
		if err := p.CatchUp(ctx); err != nil {
			log.Fatal(err)
		}
	}
	for name, store := range router.All() {
		b, _, _ := totals.Collection(store.Documents()).Get(ctx, "account-1")
		fmt.Printf("%s: %d deposit(s), %d in all\n", name, b.Deposits, b.Total)
	}
	// Output:
	// shard: no shard for partition "globex"
	// eu: 1 deposit(s), 10 in all
	// us: 1 deposit(s), 10 in all
}
