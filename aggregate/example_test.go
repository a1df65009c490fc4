package aggregate_test

import (
	"context"
	"errors"
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

	missing, _ := aggregate.Load(ctx, store, events, "sum-2", evolve, initial)
	fmt.Println(missing.State, missing.Version, missing.Exists)
	// Output:
	// 5 2 true
	// 0 0 false
}

// A stream may hold events the registry does not know (written by a newer
// version of the application, or of no interest to this state): loading
// fails, naming the event, unless SkipUnknownEvents is given.
func ExampleSkipUnknownEvents() {
	ctx := context.Background()
	store := memory.New()
	data, _ := eventstore.Encode(events, []Event{Added{N: 2}}, emmett.Metadata{})
	_, _ = store.AppendToStream(ctx, "sum-1", data)
	_, _ = store.AppendToStream(ctx, "sum-1", []eventstore.EventData{{Type: "Multiplied", Data: []byte(`{"By":10}`)}})
	_, _ = store.AppendToStream(ctx, "sum-1", data)

	_, err := aggregate.Load(ctx, store, events, "sum-1", evolve, initial)
	fmt.Println(errors.Is(err, emmett.ErrUnknownEventType))

	sum, _ := aggregate.Load(ctx, store, events, "sum-1", evolve, initial, aggregate.SkipUnknownEvents())
	fmt.Println(sum.State, sum.Version)
	// Output:
	// true
	// 4 3
}
