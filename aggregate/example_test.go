package aggregate_test

import (
	"context"
	"fmt"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

func ExampleLoad() {
	ctx := context.Background()
	store := memory.New()
	data, _ := eventstore.Encode(events, []Event{Added{N: 2}, Added{N: 3}}, emmett.Metadata{})
	_, _ = store.AppendToStream(ctx, "sum-1", data)

	sum, _ := aggregate.Load(ctx, store, events, "sum-1", evolve, initial)
	fmt.Println(sum.State, sum.Version, sum.Exists)
	// Output: 5 2 true
}
