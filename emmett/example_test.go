package emmett_test

import (
	"encoding/json"
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
	// emmett: illegal state: insufficient funds true
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

// Frozen chooses the name it is stored under, so that the Go type can be
// renamed without breaking stored events.
type Frozen struct{ Reason string }

func (Frozen) isAccountEvent()   {}
func (Frozen) EventType() string { return "account_frozen" }

// A type name of the event's own, with EventTyper; and decoding a stored
// event, envelope included.
func ExampleEventTyper() {
	events := emmett.NewEvents[AccountEvent](Deposited{}, Frozen{})
	fmt.Println(events.Names())

	rec := emmett.RecordedEvent{Type: "account_frozen", Data: []byte(`{"Reason":"audit"}`), StreamName: "account-1", StreamPosition: 3}
	frozen, err := events.DecodeRecorded(rec)
	fmt.Printf("%s@%d: %#v %v\n", frozen.StreamName, frozen.StreamPosition, frozen.Event, err)
	// Output:
	// [Deposited account_frozen]
	// account-1@3: emmett_test.Frozen{Reason:"audit"} <nil>
}

// Metadata carries correlation and causation ids and the application's own
// fields, stored as one JSON object.
func ExampleMetadata() {
	md := emmett.Metadata{CorrelationID: "req-1"}.With("user", "ann")
	md = md.Merge(emmett.Metadata{CausationID: "cmd-7"})

	data, _ := json.Marshal(md)
	fmt.Println(string(data))

	user, _ := md.Get("user")
	fmt.Println(user, emmett.Metadata{}.IsZero())
	// Output:
	// {"causationId":"cmd-7","correlationId":"req-1","user":"ann"}
	// ann true
}

// ProductAdded is at schema version 3: version 1 stored the price as a
// float, version 2 in cents, version 3 as an amount with its currency.
type ProductAdded struct {
	Product string `json:"product"`
	Price   Price  `json:"price"`
}

type Price struct {
	Cents    int64  `json:"cents"`
	Currency string `json:"currency"`
}

func (ProductAdded) isAccountEvent() {}

// Upcast reads the events a store holds at older schema versions as the
// current type, through a chain of upcasters; writes store the current
// version.
func ExampleEvents_Upcast() {
	type v1 struct {
		Product string  `json:"product"`
		Price   float64 `json:"price"`
	}
	type v2 struct {
		Product string `json:"product"`
		Cents   int64  `json:"cents"`
	}
	events := emmett.NewEvents[AccountEvent](ProductAdded{}).
		Upcast("ProductAdded", 1, emmett.UpcastJSON(func(old v1) (v2, error) {
			return v2{Product: old.Product, Cents: int64(old.Price*100 + 0.5)}, nil
		})).
		Upcast("ProductAdded", 2, emmett.UpcastJSON(func(old v2) (ProductAdded, error) {
			return ProductAdded{Product: old.Product, Price: Price{Cents: old.Cents, Currency: "EUR"}}, nil
		}))

	stored := emmett.RecordedEvent{Type: "ProductAdded", SchemaVersion: 1, Data: []byte(`{"product":"tea","price":4.5}`)}
	rec, err := events.DecodeRecorded(stored)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", rec.Event)

	name, version, data, _ := events.EncodeVersion(rec.Event)
	fmt.Println(name, version, string(data))
	// Output:
	// {Product:tea Price:{Cents:450 Currency:EUR}}
	// ProductAdded 3 {"product":"tea","price":{"cents":450,"currency":"EUR"}}
}
