package eventstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

// Read your writes: the position an append returned, carried by the
// context of the reads that follow. A store that reads from a replica
// (postgres.Replica) waits until the replica has it; others read as ever.
func ExampleWithMinPosition() {
	ctx := context.Background()
	store := memory.New() // or postgres.NewReplica(primary, standby)
	res, err := store.AppendToStream(ctx, "account-42", []eventstore.EventData{{Type: "Deposited", Data: []byte(`{"amount":5}`)}})
	if err != nil {
		log.Fatal(err)
	}
	readCtx := eventstore.WithMinPosition(ctx, res.Position)
	for e, err := range store.ReadStream(readCtx, "account-42") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.StreamPosition, e.Type)
	}
	pos, _ := eventstore.MinPosition(readCtx)
	fmt.Println("reads see at least", pos)
	// Output:
	// 1 Deposited
	// reads see at least 1
}
