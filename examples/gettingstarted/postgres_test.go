package gettingstarted

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The guide's flow on PostgreSQL: the balances inline, the bank totals on
// logical replication, read your writes with WaitFor.
func TestPostgres(t *testing.T) {
	ctx := t.Context()
	store, processor, err := OpenPostgres(ctx, pgtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	t.Cleanup(func() {
		// A slot keeps WAL until it is dropped.
		src, err := replication.NewSource(store, BankTotals().Name())
		require.NoError(t, err)
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, src.DropSlot(cctx))
	})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- processor.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-done)
	})

	accounts := command.NewDeciderHandler(store, Decider(), Events())
	_, err = accounts.Handle(ctx, "account-42", Deposit{Amount: 100})
	require.NoError(t, err)
	res, err := accounts.Handle(ctx, "account-42", Withdraw{Amount: 30})
	require.NoError(t, err)

	balance, found, err := Balances().Collection(store.Documents()).Get(ctx, "account-42")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, Balance{Account: "account-42", Balance: 70, Transactions: 2}, balance)

	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, processor.WaitFor(wctx, res.Position))
	bank, found, err := BankTotals().Collection(store.Documents()).Get(ctx, "bank")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, Totals{Accounts: 1, Deposited: 100, Withdrawn: 30}, bank)
}
