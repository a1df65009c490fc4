package emmett_test

import (
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/emmett"
)

// A tiny domain: a bank account.

type AccountEvent interface{ isAccountEvent() }

type Deposited struct{ Amount int }
type Withdrawn struct{ Amount int }

func (Deposited) isAccountEvent() {}
func (Withdrawn) isAccountEvent() {}

type Withdraw struct{ Amount int }

type Account struct{ Balance int }

var ErrInsufficientFunds = fmt.Errorf("%w: insufficient funds", emmett.ErrIllegalState)

var account = emmett.Decider[Account, Withdraw, AccountEvent]{
	Decide: func(cmd Withdraw, state Account) ([]AccountEvent, error) {
		if cmd.Amount > state.Balance {
			return nil, ErrInsufficientFunds
		}
		return []AccountEvent{Withdrawn{Amount: cmd.Amount}}, nil
	},
	Evolve: func(state Account, event AccountEvent) Account {
		switch e := event.(type) {
		case Deposited:
			state.Balance += e.Amount
		case Withdrawn:
			state.Balance -= e.Amount
		}
		return state
	},
	InitialState: func() Account { return Account{} },
}

func ExampleDecider() {
	state, events, err := account.Run(Withdraw{Amount: 30}, Deposited{Amount: 100})
	fmt.Println(state.Balance, events, err)

	_, _, err = account.Run(Withdraw{Amount: 300}, Deposited{Amount: 100})
	fmt.Println(err, errors.Is(err, emmett.ErrIllegalState))
	// Output:
	// 70 [{30}] <nil>
	// illegal state: insufficient funds true
}

func ExampleNewEvents() {
	events := emmett.NewEvents[AccountEvent](Deposited{}, Withdrawn{})

	name, data, _ := events.Encode(Deposited{Amount: 5})
	fmt.Println(name, string(data))

	back, _ := events.Decode(name, data)
	fmt.Printf("%#v\n", back)

	_, err := events.Decode("Frozen", []byte(`{}`))
	fmt.Println(errors.Is(err, emmett.ErrUnknownEventType))
	// Output:
	// Deposited {"Amount":5}
	// emmett_test.Deposited{Amount:5}
	// true
}
