package memory_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

// Append to two streams, see a stale expected version refused, and read
// the global log in order.
func ExampleNew() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	res, err := store.AppendToStream(ctx, "shopping_cart-1", []eventstore.EventData{
		{Type: "ProductItemAdded", Data: []byte(`{"productId":"tea","quantity":2}`)},
	}, eventstore.ExpectNoStream())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cart 1 at version", res.NextExpectedVersion, "created:", res.Created)

	if _, err := store.AppendToStream(ctx, "shopping_cart-2", []eventstore.EventData{
		{Type: "ProductItemAdded", Data: []byte(`{"productId":"mug","quantity":1}`)},
	}); err != nil {
		log.Fatal(err)
	}

	_, err = store.AppendToStream(ctx, "shopping_cart-1", []eventstore.EventData{
		{Type: "ShoppingCartConfirmed", Data: []byte(`{}`)},
	}, eventstore.ExpectNoStream())
	var conflict *eventstore.VersionConflictError
	if errors.Is(err, eventstore.ErrVersionConflict) && errors.As(err, &conflict) {
		fmt.Println("refused: the stream is at version", conflict.Actual)
	}

	for e, err := range store.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.GlobalPosition, e.StreamName, e.Type, string(e.Data))
	}
	// Output:
	// cart 1 at version 1 created: true
	// refused: the stream is at version 1
	// 1 shopping_cart-1 ProductItemAdded {"productId":"tea","quantity":2}
	// 2 shopping_cart-2 ProductItemAdded {"productId":"mug","quantity":1}
}
