package gettingstarted

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
)

// The guide's flow on SQLite: commands, an inline read model read through
// its typed Collection, and an asynchronous one read after WaitFor.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bank")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bank.db")

	// The store: a SQLite file, created on first use, with the balances
	// updated inline, in the transaction of each append.
	store, err := sqlite.Open(ctx, path, sqlite.WithProjections(Balances()))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Commands: load the stream, decide, append with the version read.
	accounts := command.NewDeciderHandler(store, Decider(), Events())

	res, err := accounts.Handle(ctx, "account-42", Deposit{Amount: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance", res.State, "version", res.NextExpectedVersion)

	res, err = accounts.Handle(ctx, "account-42", Withdraw{Amount: 30}, eventstore.ExpectVersion(res.NextExpectedVersion))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance", res.State, "version", res.NextExpectedVersion)

	_, err = accounts.Handle(ctx, "account-42", Withdraw{Amount: 1}, eventstore.ExpectVersion(1))
	fmt.Println("stale version:", errors.Is(err, eventstore.ErrVersionConflict))

	_, err = accounts.Handle(ctx, "account-42", Withdraw{Amount: 1000})
	fmt.Println("rule:", err)

	// The inline read model: there as soon as the append returned.
	balances := Balances().Collection(store.Documents())
	balance, found, err := balances.Get(ctx, "account-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("found %v: %+v\n", found, balance)

	_, err = accounts.Handle(ctx, "account-7", Deposit{Amount: 5})
	if err != nil {
		log.Fatal(err)
	}
	small, err := balances.Find(ctx, projection.Eq("balance", 5))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accounts with 5:", len(small), small[0].Account)

	// The asynchronous read model: a processor follows the global log and
	// keeps its checkpoint in the same transaction as its documents.
	totals := BankTotals()
	processor := projection.NewProjectionProcessor(store.Processors(), store.Source(), totals)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- processor.Run(runCtx) }()

	res, err = accounts.Handle(ctx, "account-7", Deposit{Amount: 20})
	if err != nil {
		log.Fatal(err)
	}
	// Read your writes: wait until the processor has applied the append.
	if err := processor.WaitFor(ctx, res.Position); err != nil {
		log.Fatal(err)
	}
	bank, _, err := totals.Collection(store.Documents()).Get(ctx, "bank")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bank: %+v\n", bank)

	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// balance 100 version 1
	// balance 70 version 2
	// stale version: true
	// rule: emmett: illegal state: insufficient funds
	// found true: {Account:account-42 Balance:70 Transactions:2}
	// accounts with 5: 1 account-7
	// bank: {Accounts:2 Deposited:125 Withdrawn:30}
}
