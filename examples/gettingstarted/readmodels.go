package gettingstarted

import (
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
)

// Balance is the read model of one account.
type Balance struct {
	// Account is the account's stream.
	Account string `json:"account"`
	// Balance is the money on the account.
	Balance int `json:"balance"`
	// Transactions counts deposits and withdrawals.
	Transactions int `json:"transactions"`
}

// Balances keeps a Balance per account stream; the document's id is the
// stream name.
func Balances() *projection.DocumentProjection[Balance, Event] {
	return projection.SingleStream("balances", Events(),
		func(doc *Balance, e emmett.Recorded[Event]) *Balance {
			if doc == nil {
				doc = &Balance{Account: e.StreamName}
			}
			switch ev := e.Event.(type) {
			case Deposited:
				doc.Balance += ev.Amount
			case Withdrawn:
				doc.Balance -= ev.Amount
			}
			doc.Transactions++
			return doc
		})
}

// Totals is the read model of the whole bank.
type Totals struct {
	// Accounts counts the accounts with at least one transaction.
	Accounts int `json:"accounts"`
	// Deposited sums the deposits of every account.
	Deposited int `json:"deposited"`
	// Withdrawn sums the withdrawals of every account.
	Withdrawn int `json:"withdrawn"`
}

// BankTotals keeps one Totals document, "bank", from the events of every
// account.
func BankTotals() *projection.DocumentProjection[Totals, Event] {
	return projection.MultiStream("bank_totals", Events(),
		func(emmett.Recorded[Event]) []string { return []string{"bank"} },
		func(doc *Totals, e emmett.Recorded[Event]) *Totals {
			if doc == nil {
				doc = &Totals{}
			}
			if e.StreamPosition == 1 {
				doc.Accounts++
			}
			switch ev := e.Event.(type) {
			case Deposited:
				doc.Deposited += ev.Amount
			case Withdrawn:
				doc.Withdrawn += ev.Amount
			}
			return doc
		})
}
