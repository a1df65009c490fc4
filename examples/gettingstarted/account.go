// Package gettingstarted is the code of docs/getting-started.md: a bank
// account modelled as a Decider, its read models, its HTTP API, and the
// wiring on SQLite and PostgreSQL. Its files are the guide's snippets, in
// the guide's order (guide_test.go checks it).
package gettingstarted

import (
	"fmt"

	"github.com/emmett-go/emmett/emmett"
)

// Event is an account event.
type Event interface{ isEvent() }

// Deposited records money paid in.
type Deposited struct {
	Amount int `json:"amount"`
}

// Withdrawn records money taken out.
type Withdrawn struct {
	Amount int `json:"amount"`
}

func (Deposited) isEvent() {}
func (Withdrawn) isEvent() {}

// Command is an account command.
type Command interface{ isCommand() }

// Deposit pays money in.
type Deposit struct{ Amount int }

// Withdraw takes money out, if the balance allows it.
type Withdraw struct{ Amount int }

func (Deposit) isCommand()  {}
func (Withdraw) isCommand() {}

// Errors of the business rules.
var (
	ErrInvalidAmount     = fmt.Errorf("%w: the amount must be positive", emmett.ErrValidation)
	ErrInsufficientFunds = fmt.Errorf("%w: insufficient funds", emmett.ErrIllegalState)
)

// Decide applies the business rules to a command, given the balance.
func Decide(cmd Command, balance int) ([]Event, error) {
	switch c := cmd.(type) {
	case Deposit:
		if c.Amount <= 0 {
			return nil, ErrInvalidAmount
		}
		return []Event{Deposited{Amount: c.Amount}}, nil
	case Withdraw:
		if c.Amount <= 0 {
			return nil, ErrInvalidAmount
		}
		if c.Amount > balance {
			return nil, ErrInsufficientFunds
		}
		return []Event{Withdrawn{Amount: c.Amount}}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %T", emmett.ErrValidation, cmd)
}

// Evolve applies an event to the balance.
func Evolve(balance int, event Event) int {
	switch e := event.(type) {
	case Deposited:
		return balance + e.Amount
	case Withdrawn:
		return balance - e.Amount
	}
	return balance
}

// Decider is the account's Decider: its state is the balance.
func Decider() emmett.Decider[int, Command, Event] {
	return emmett.Decider[int, Command, Event]{
		Decide:       Decide,
		Evolve:       Evolve,
		InitialState: func() int { return 0 },
	}
}

// Events returns the registry of account events.
func Events() *emmett.Events[Event] {
	return emmett.NewEvents[Event](Deposited{}, Withdrawn{})
}

// StreamName returns the name of an account's stream.
func StreamName(accountID string) string { return "account-" + accountID }
