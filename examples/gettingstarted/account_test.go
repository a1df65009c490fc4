package gettingstarted

import (
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/testing/spec"
)

func TestWithdraw(t *testing.T) {
	spec.For(t, Decider()).
		Given(Deposited{Amount: 100}).
		When(Withdraw{Amount: 30}).
		Then(Withdrawn{Amount: 30}).
		ThenState(70)

	spec.For(t, Decider()).
		Given(Deposited{Amount: 10}).
		When(Withdraw{Amount: 30}).
		ThenError(ErrInsufficientFunds)

	spec.For(t, Decider()).
		When(Withdraw{Amount: -5}).
		ThenError(emmett.ErrValidation)
}

func TestDeposit(t *testing.T) {
	spec.For(t, Decider()).
		When(Deposit{Amount: 100}).
		Then(Deposited{Amount: 100})

	spec.For(t, Decider()).
		When(Deposit{Amount: 0}).
		ThenError(ErrInvalidAmount)
}
