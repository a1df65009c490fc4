package workflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/require"
)

// The tests' workflow: checkout. An order placed asks for its payment and
// waits for it; paid, the order is completed (an event published to
// completed-<id>); not paid in time, it is cancelled.

// Input is what checkout reacts to.
type Input interface{ isInput() }

// OrderPlaced is appended to order-<id> by the tests.
type OrderPlaced struct {
	OrderID string
	Amount  int
}

// PaymentReceived is appended to order-<id> by the tests.
type PaymentReceived struct{ OrderID string }

// PaymentTimedOut is the message checkout schedules for itself.
type PaymentTimedOut struct{ OrderID string }

func (OrderPlaced) isInput()     {}
func (PaymentReceived) isInput() {}
func (PaymentTimedOut) isInput() {}

// Output is what checkout sends and publishes.
type Output interface{ isOutput() }

// RequestPayment is a command to the payments' handler.
type RequestPayment struct {
	OrderID string
	Amount  int
}

// CancelOrder is a command to the orders' handler.
type CancelOrder struct{ OrderID string }

// OrderCompleted is published to completed-<id>.
type OrderCompleted struct{ OrderID string }

func (RequestPayment) isOutput() {}
func (CancelOrder) isOutput()    {}
func (OrderCompleted) isOutput() {}

var (
	inputs  = emmett.NewEvents[Input](OrderPlaced{}, PaymentReceived{}, PaymentTimedOut{})
	outputs = emmett.NewEvents[Output](RequestPayment{}, CancelOrder{}, OrderCompleted{})
)

// Checkout is an instance's state.
type Checkout struct {
	Status string // "", "awaiting payment", "paid", "cancelled"
}

func orderID(in Input) string {
	switch in := in.(type) {
	case OrderPlaced:
		return in.OrderID
	case PaymentReceived:
		return in.OrderID
	case PaymentTimedOut:
		return in.OrderID
	}
	return ""
}

// checkout returns the workflow, cancelling orders not paid within
// timeout.
func checkout(timeout time.Duration) workflow.Workflow[Input, Checkout, Output] {
	return workflow.Workflow[Input, Checkout, Output]{
		Name: "checkout",
		ID:   orderID,
		Decide: func(in Input, s Checkout) ([]workflow.Output[Input, Output], error) {
			switch in := in.(type) {
			case OrderPlaced:
				if s.Status != "" {
					return nil, nil
				}
				return []workflow.Output[Input, Output]{
					{Send: RequestPayment{OrderID: in.OrderID, Amount: in.Amount}},
					{Schedule: PaymentTimedOut{OrderID: in.OrderID}, After: timeout},
				}, nil
			case PaymentReceived:
				if s.Status != "awaiting payment" {
					return nil, nil
				}
				return []workflow.Output[Input, Output]{{Publish: OrderCompleted{OrderID: in.OrderID}, To: "completed-" + in.OrderID}}, nil
			case PaymentTimedOut:
				if s.Status != "awaiting payment" {
					return nil, nil
				}
				return []workflow.Output[Input, Output]{{Send: CancelOrder{OrderID: in.OrderID}}}, nil
			}
			return nil, nil
		},
		Evolve: func(s Checkout, m workflow.Message[Input, Output]) Checkout {
			switch m.Kind {
			case workflow.Received:
				switch m.Input.(type) {
				case OrderPlaced:
					s.Status = "awaiting payment"
				case PaymentReceived:
					s.Status = "paid"
				}
			case workflow.Sent:
				if _, ok := m.Output.(CancelOrder); ok {
					s.Status = "cancelled"
				}
			}
			return s
		},
		InitialState: func() Checkout { return Checkout{} },
	}
}

// The handlers of the commands: payments and orders.

// Fact is an event of the payments' and orders' streams.
type Fact interface{ isFact() }

// PaymentRequested is appended to payment-<id>.
type PaymentRequested struct {
	OrderID string
	Amount  int
}

// OrderCancelled is appended to cancellation-<id>.
type OrderCancelled struct{ OrderID string }

func (PaymentRequested) isFact() {}
func (OrderCancelled) isFact()   {}

var facts = emmett.NewEvents[Fact](PaymentRequested{}, OrderCancelled{})

var ledger = emmett.Decider[int, Output, Fact]{
	Decide: func(c Output, n int) ([]Fact, error) {
		switch c := c.(type) {
		case RequestPayment:
			return []Fact{PaymentRequested(c)}, nil
		case CancelOrder:
			return []Fact{OrderCancelled(c)}, nil
		}
		return nil, nil
	},
	Evolve:       func(n int, _ Fact) int { return n + 1 },
	InitialState: func() int { return 0 },
}

// newRouter routes RequestPayment to payment-<id> and CancelOrder to
// cancellation-<id>, through a decider handler on store; before, when not nil,
// runs before each dispatch of a RequestPayment and after after it.
func newRouter(store eventstore.Store, before, after func(ctx context.Context, c RequestPayment) error) *command.Router {
	h := command.NewDeciderHandler(store, ledger, facts)
	r := command.NewRouter()
	command.Route(r, func(ctx context.Context, c RequestPayment, opts ...eventstore.AppendOption) error {
		if before != nil {
			if err := before(ctx, c); err != nil {
				return err
			}
		}
		if _, err := h.Handle(ctx, "payment-"+c.OrderID, c, opts...); err != nil {
			return err
		}
		if after != nil {
			return after(ctx, c)
		}
		return nil
	})
	command.RouteDecider(r, h, func(c CancelOrder) string { return "cancellation-" + c.OrderID })
	return r
}

// place appends an order's OrderPlaced and returns its position.
func place(t testing.TB, store eventstore.Store, id string, amount int) eventstore.Position {
	t.Helper()
	return appendInput(t, store, "order-"+id, OrderPlaced{OrderID: id, Amount: amount})
}

func appendInput(t testing.TB, store eventstore.Store, stream string, in Input) eventstore.Position {
	t.Helper()
	data, err := eventstore.Encode(inputs, []Input{in}, emmett.Metadata{})
	require.NoError(t, err)
	res, err := store.AppendToStream(context.Background(), stream, data)
	require.NoError(t, err)
	return res.Position
}

// types returns the type names of a stream's events, those of a workflow
// instance's records as "received OrderPlaced".
func types(t testing.TB, store eventstore.Store, stream string) []string {
	t.Helper()
	out := []string{}
	for rec, err := range store.ReadStream(context.Background(), stream) {
		require.NoError(t, err)
		out = append(out, strings.Replace(rec.Type, ":", " ", 1))
	}
	return out
}
