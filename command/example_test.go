package command_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
)

func ExampleDeciderHandler() {
	ctx := context.Background()
	store := memory.New()
	accounts := command.NewDeciderHandler(store, decider, events)

	res, _ := accounts.Handle(ctx, "account-42", Deposit{Amount: 100})
	fmt.Println("balance", res.State, "version", res.NextExpectedVersion)

	res, _ = accounts.Handle(ctx, "account-42", Withdraw{Amount: 30}, eventstore.ExpectVersion(res.NextExpectedVersion))
	fmt.Println("balance", res.State, "version", res.NextExpectedVersion)

	// A stale expected version is a conflict, not a retry.
	_, err := accounts.Handle(ctx, "account-42", Withdraw{Amount: 1}, eventstore.ExpectVersion(1))
	fmt.Println(errors.Is(err, eventstore.ErrVersionConflict))

	// A business rule's error comes back as the decider returned it.
	_, err = accounts.Handle(ctx, "account-42", Withdraw{Amount: 1000})
	fmt.Println(err)
	// Output:
	// balance 100 version 1
	// balance 70 version 2
	// true
	// emmett: illegal state: insufficient funds
}

func ExampleHandler() {
	ctx := context.Background()
	store := memory.New()
	accounts := command.NewHandler(store, events, decider.Evolve, decider.InitialState)

	_, _ = accounts.Handle(ctx, "account-7", func(balance int) ([]Event, error) {
		return []Event{Deposited{Amount: 50}}, nil
	})
	res, _ := accounts.Handle(ctx, "account-7", func(balance int) ([]Event, error) {
		return []Event{Withdrawn{Amount: balance / 2}}, nil // withdraw half
	})
	fmt.Println(res.State, res.Events[0].Event, res.Events[0].StreamPosition)
	// Output:
	// 25 {25} 2
}
