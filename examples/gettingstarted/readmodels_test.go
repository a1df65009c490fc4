package gettingstarted

import (
	"testing"

	"github.com/emmett-go/emmett/testing/spec"
)

func TestBalances(t *testing.T) {
	spec.ForDocuments(t, Balances(), Events()).
		Given("account-1", Deposited{Amount: 100}, Withdrawn{Amount: 30}).
		Given("account-2", Deposited{Amount: 5}).
		Then(map[string]Balance{
			"account-1": {Account: "account-1", Balance: 70, Transactions: 2},
			"account-2": {Account: "account-2", Balance: 5, Transactions: 1},
		})
}

func TestBankTotals(t *testing.T) {
	spec.ForDocuments(t, BankTotals(), Events()).
		Given("account-1", Deposited{Amount: 100}, Withdrawn{Amount: 30}).
		Given("account-2", Deposited{Amount: 5}).
		ThenDocument("bank", Totals{Accounts: 2, Deposited: 105, Withdrawn: 30})
}
