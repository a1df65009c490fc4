package gettingstarted

import (
	"context"
	"fmt"
	"log"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

// The store without a command handler: encode typed events, append them
// with an expected version, read the stream back.
func Example_store() {
	ctx := context.Background()
	store := memory.New()
	for range 3 {
		seed, _ := eventstore.Encode(Events(), []Event{Deposited{Amount: 1}}, emmett.Metadata{CorrelationID: "seed"})
		_, _ = store.AppendToStream(ctx, "account-42", seed)
	}

	data, err := eventstore.Encode(Events(), []Event{Deposited{Amount: 5}}, emmett.Metadata{CorrelationID: "req-1"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, "account-42", data, eventstore.ExpectVersion(3))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", res.NextExpectedVersion)

	for e, err := range store.ReadStream(ctx, "account-42", eventstore.FromVersion(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.StreamPosition, e.Type, string(e.Data), e.Metadata.CorrelationID)
	}
	// Output:
	// version 4
	// 2 Deposited {"amount":1} seed
	// 3 Deposited {"amount":1} seed
	// 4 Deposited {"amount":5} req-1
}
