package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

// The events of the examples.
type (
	AccountEvent interface{ isAccountEvent() }
	Deposited    struct {
		Amount int `json:"amount"`
	}
)

func (Deposited) isAccountEvent() {}

var accountEvents = emmett.NewEvents[AccountEvent](Deposited{})

// Encode typed events with their registry, append them with an expected
// version, and read the stream back.
func Example() {
	ctx := context.Background()
	var store eventstore.Store = memory.New() // or sqlite.Open, postgres.Open

	data, err := eventstore.Encode(accountEvents, []AccountEvent{Deposited{Amount: 100}, Deposited{Amount: 5}},
		emmett.Metadata{CorrelationID: "req-1"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := store.AppendToStream(ctx, "account-42", data, eventstore.ExpectNoStream())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", res.NextExpectedVersion, "created", res.Created, "position", res.Position)

	for e, err := range store.ReadStream(ctx, "account-42") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.StreamPosition, e.Type, string(e.Data), e.Metadata.CorrelationID)
	}
	// Output:
	// version 2 created true position 2
	// 1 Deposited {"amount":100} req-1
	// 2 Deposited {"amount":5} req-1
}

// The four expected versions. A conflict matches ErrVersionConflict, and
// errors.As gives the details.
func ExampleExpectedVersion() {
	ctx := context.Background()
	store := memory.New()
	data, _ := eventstore.Encode(accountEvents, []AccountEvent{Deposited{Amount: 1}}, emmett.Metadata{})

	_, err := store.AppendToStream(ctx, "account-1", data, eventstore.ExpectStreamExists())
	fmt.Println("stream exists:", err)
	_, err = store.AppendToStream(ctx, "account-1", data, eventstore.ExpectNoStream())
	fmt.Println("no stream:", err)
	_, err = store.AppendToStream(ctx, "account-1", data, eventstore.ExpectVersion(1))
	fmt.Println("exactly 1:", err)
	_, err = store.AppendToStream(ctx, "account-1", data, eventstore.ExpectAny())
	fmt.Println("any:", err)

	_, err = store.AppendToStream(ctx, "account-1", data, eventstore.ExpectVersion(1))
	var conflict *eventstore.VersionConflictError
	if errors.Is(err, eventstore.ErrVersionConflict) && errors.As(err, &conflict) {
		fmt.Println("conflict on", conflict.Stream, "expected", conflict.Expected, "actual", conflict.Actual)
	}
	// Output:
	// stream exists: eventstore: version conflict on stream "account-1": expected stream_exists, actual 0
	// no stream: <nil>
	// exactly 1: <nil>
	// any: <nil>
	// conflict on account-1 expected 1 actual 3
}

// Read a range of a stream: from a stream position, to another, at most a
// number of events.
func ExampleFromVersion() {
	ctx := context.Background()
	store := memory.New()
	data, _ := eventstore.Encode(accountEvents, []AccountEvent{
		Deposited{Amount: 1}, Deposited{Amount: 2}, Deposited{Amount: 3}, Deposited{Amount: 4}, Deposited{Amount: 5},
	}, emmett.Metadata{})
	_, _ = store.AppendToStream(ctx, "account-7", data)

	for e, err := range store.ReadStream(ctx, "account-7", eventstore.FromVersion(2), eventstore.ToVersion(4), eventstore.MaxCount(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.StreamPosition, string(e.Data))
	}
	// Output:
	// 2 {"amount":2}
	// 3 {"amount":3}
}

// Read the global log after a position, as a processor does, and keep the
// position of the last event to go on from it later.
func ExampleGlobalReader() {
	ctx := context.Background()
	store := memory.New()
	for _, stream := range []string{"account-1", "account-2", "account-1"} {
		data, _ := eventstore.Encode(accountEvents, []AccountEvent{Deposited{Amount: 10}}, emmett.Metadata{})
		_, _ = store.AppendToStream(ctx, stream, data)
	}

	var last eventstore.Position
	for e, err := range store.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.GlobalPosition, e.StreamName, e.StreamPosition)
		last = eventstore.PositionOf(e)
	}
	fmt.Println("checkpoint", last)
	// Output:
	// 1 account-1 1
	// 2 account-2 1
	// 3 account-1 2
	// checkpoint 3
}

// Positions compare, and round-trip through text: what a checkpoint table
// or an HTTP cursor stores.
func ExamplePosition() {
	sqlite := eventstore.Position{GlobalPosition: 42}
	postgres := eventstore.Position{TransactionID: 1907, GlobalPosition: 42}
	replicated := eventstore.Position{LSN: 0x16B3748, TransactionID: 1907, GlobalPosition: 42}
	fmt.Println(sqlite, postgres, replicated)

	p, err := eventstore.ParsePosition("1907:42")
	fmt.Println(p == postgres, err)
	fmt.Println(eventstore.Position{}.Before(sqlite), sqlite.Compare(eventstore.Position{GlobalPosition: 41}))
	// Output:
	// 42 1907:42 0/16B3748@1907:42
	// true <nil>
	// true 1
}

// Stream names are validated by every store: nothing is written for a bad
// one. The part before the first '-' is the stream's type (its category).
func ExampleStreamType() {
	fmt.Println(eventstore.StreamType("shopping_cart-123"), eventstore.StreamType("settings"))

	err := eventstore.ValidateStreamName("")
	fmt.Println(errors.Is(err, eventstore.ErrInvalidStreamName), err)
	// Output:
	// shopping_cart emt:unknown
	// true eventstore: invalid stream name "": empty
}
