package command_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouter(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	accounts := command.NewDeciderHandler(store, decider, events)
	r := command.NewRouter()
	command.RouteDecider(r, accounts, func(Deposit) string { return "account-1" })
	var other []Command
	command.Route(r, func(_ context.Context, c Command, _ ...eventstore.AppendOption) error {
		other = append(other, c)
		return nil
	})

	require.NoError(t, r.Send(ctx, Deposit{Amount: 5}))
	require.NoError(t, r.Send(ctx, Deposit{Amount: 7}, eventstore.WithIdempotencyKey("k")))
	require.NoError(t, r.Send(ctx, Deposit{Amount: 7}, eventstore.WithIdempotencyKey("k")), "a repeat under its key")
	v, _, err := store.StreamVersion(ctx, "account-1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "the repeat under the same key appended nothing")

	require.NoError(t, r.Send(ctx, Withdraw{Amount: 1}), "the interface's route serves the types without their own")
	assert.Equal(t, []Command{Withdraw{Amount: 1}}, other)
	assert.True(t, r.Handles(Noop{}))

	err = command.NewRouter().Send(ctx, Deposit{})
	require.ErrorIs(t, err, command.ErrNoRoute)
	assert.Contains(t, err.Error(), "command_test.Deposit")
	require.ErrorIs(t, r.Send(ctx, nil), command.ErrNoRoute)

	assert.Panics(t, func() { command.RouteDecider(r, accounts, func(string) string { return "" }) }, "string is no Command")
}

func ExampleRouter() {
	ctx := context.Background()
	store := memory.New()
	accounts := command.NewDeciderHandler(store, decider, events)

	r := command.NewRouter()
	command.RouteDecider(r, accounts, func(Deposit) string { return "account-42" })

	_ = r.Send(ctx, Deposit{Amount: 100})
	err := r.Send(ctx, Withdraw{Amount: 1})
	v, _, _ := store.StreamVersion(ctx, "account-42")
	fmt.Println(v, err)
	// Output:
	// 1 command: no handler for the command's type: command_test.Withdraw
}
