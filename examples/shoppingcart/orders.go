package shoppingcart

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/workflow"
)

// Orders: a confirmed cart becomes an order (its id is the cart's), which
// waits for its payment; the checkout workflow places it, and cancels it
// when it is not paid in time.

// DefaultPaymentTimeout is how long an order waits for its payment
// before the checkout workflow cancels it.
const DefaultPaymentTimeout = 15 * time.Minute

// OrderStreamName returns the name of an order's stream.
func OrderStreamName(orderID string) string { return "order-" + orderID }

// OrderCommand is a command to an order.
type OrderCommand interface{ isOrderCommand() }

// PlaceOrder places the order of a confirmed cart.
type PlaceOrder struct {
	// OrderID is the order's id: its cart's.
	OrderID string `json:"orderId"`
	// ClientID is the client the order belongs to.
	ClientID string `json:"clientId"`
	// Total is what the client owes.
	Total Money `json:"total"`
	// Now is the time of the command.
	Now time.Time `json:"now"`
}

// PayOrder records an order's payment.
type PayOrder struct {
	// OrderID is the order's id.
	OrderID string
	// ClientID is the client paying: the order's, or the order is not
	// found.
	ClientID string
	// Now is the time of the command.
	Now time.Time
}

// CancelOrder cancels an order not paid yet; a paid order stays paid.
type CancelOrder struct {
	// OrderID is the order's id.
	OrderID string `json:"orderId"`
	// Reason says why.
	Reason string `json:"reason"`
	// Now is the time of the command.
	Now time.Time `json:"now"`
}

func (PlaceOrder) isOrderCommand()  {}
func (PayOrder) isOrderCommand()    {}
func (CancelOrder) isOrderCommand() {}

// OrderEvent is an order's event.
type OrderEvent interface{ isOrderEvent() }

// OrderPlaced records an order placed.
type OrderPlaced struct {
	// OrderID is the order's id.
	OrderID string `json:"orderId"`
	// ClientID is the client the order belongs to.
	ClientID string `json:"clientId"`
	// Total is what the client owes.
	Total Money `json:"total"`
	// PlacedAt is when it was placed.
	PlacedAt time.Time `json:"placedAt"`
}

// OrderPaid records an order's payment.
type OrderPaid struct {
	// OrderID is the order's id.
	OrderID string `json:"orderId"`
	// PaidAt is when it was paid.
	PaidAt time.Time `json:"paidAt"`
}

// OrderCancelled records an order cancelled.
type OrderCancelled struct {
	// OrderID is the order's id.
	OrderID string `json:"orderId"`
	// Reason says why.
	Reason string `json:"reason"`
	// CancelledAt is when it was cancelled.
	CancelledAt time.Time `json:"cancelledAt"`
}

func (OrderPlaced) isOrderEvent()    {}
func (OrderPaid) isOrderEvent()      {}
func (OrderCancelled) isOrderEvent() {}

// OrderEvents returns the registry of order events.
func OrderEvents() *emmett.Events[OrderEvent] {
	return emmett.NewEvents[OrderEvent](OrderPlaced{}, OrderPaid{}, OrderCancelled{})
}

// The statuses of an order.
const (
	OrderAwaitingPayment = "AwaitingPayment"
	OrderPaidStatus      = "Paid"
	OrderCancelledStatus = "Cancelled"
)

// Order is an order's state, and how the API shows it.
type Order struct {
	// ID is the order's id ("" before it is placed).
	ID string `json:"id"`
	// ClientID is the client the order belongs to.
	ClientID string `json:"clientId"`
	// Total is what the client owes.
	Total Money `json:"total"`
	// Status is AwaitingPayment, Paid or Cancelled.
	Status string `json:"status"`
	// Reason is why it was cancelled.
	Reason string `json:"reason,omitempty"`
}

// Errors of the orders' rules.
var (
	ErrOrderNotFound = fmt.Errorf("%w: no such order", emmett.ErrNotFound)
	ErrOrderPaid     = fmt.Errorf("%w: order paid already", emmett.ErrIllegalState)
	ErrOrderCanceled = fmt.Errorf("%w: order cancelled", emmett.ErrIllegalState)
)

// OrderDecider is an order's decider. Placing an order placed already and
// cancelling one paid or cancelled change nothing (the checkout workflow
// may send them again, or after a payment it has not seen yet); paying
// one paid or cancelled is refused. Whichever of a payment and a
// cancellation is appended first wins: each is decided on the version of
// the order's stream it read.
func OrderDecider() emmett.Decider[Order, OrderCommand, OrderEvent] {
	return emmett.Decider[Order, OrderCommand, OrderEvent]{
		Decide: func(cmd OrderCommand, o Order) ([]OrderEvent, error) {
			switch cmd := cmd.(type) {
			case PlaceOrder:
				if o.ID != "" {
					return nil, nil
				}
				return []OrderEvent{OrderPlaced{OrderID: cmd.OrderID, ClientID: cmd.ClientID, Total: cmd.Total, PlacedAt: cmd.Now}}, nil
			case PayOrder:
				switch {
				case o.ID == "" || o.ClientID != cmd.ClientID:
					return nil, ErrOrderNotFound
				case o.Status == OrderPaidStatus:
					return nil, ErrOrderPaid
				case o.Status == OrderCancelledStatus:
					return nil, ErrOrderCanceled
				}
				return []OrderEvent{OrderPaid{OrderID: cmd.OrderID, PaidAt: cmd.Now}}, nil
			case CancelOrder:
				if o.Status != OrderAwaitingPayment {
					return nil, nil
				}
				return []OrderEvent{OrderCancelled{OrderID: cmd.OrderID, Reason: cmd.Reason, CancelledAt: cmd.Now}}, nil
			}
			return nil, fmt.Errorf("%w: unknown command %T", emmett.ErrValidation, cmd)
		},
		Evolve: func(o Order, e OrderEvent) Order {
			switch e := e.(type) {
			case OrderPlaced:
				return Order{ID: e.OrderID, ClientID: e.ClientID, Total: e.Total, Status: OrderAwaitingPayment}
			case OrderPaid:
				o.Status = OrderPaidStatus
			case OrderCancelled:
				o.Status, o.Reason = OrderCancelledStatus, e.Reason
			}
			return o
		},
		InitialState: func() Order { return Order{} },
	}
}

// The checkout workflow.

// CheckoutInput is what the checkout workflow reacts to: the events of a
// cart, an order's payment, and its own payment timeout.
type CheckoutInput interface{ isCheckoutInput() }

// OrderPaymentTimedOut is the message the checkout workflow schedules for
// itself when it places an order: due when the payment timeout ends.
type OrderPaymentTimedOut struct {
	// OrderID is the order's id.
	OrderID string `json:"orderId"`
	// DueAt is when the payment was due.
	DueAt time.Time `json:"dueAt"`
}

func (ProductItemAddedToShoppingCart) isCheckoutInput()     {}
func (ProductItemRemovedFromShoppingCart) isCheckoutInput() {}
func (ShoppingCartConfirmed) isCheckoutInput()              {}
func (OrderPaid) isCheckoutInput()                          {}
func (OrderPaymentTimedOut) isCheckoutInput()               {}

// CheckoutInputs returns the registry of the checkout workflow's inputs
// (reading version 1 of the product item events as Events does).
func CheckoutInputs() *emmett.Events[CheckoutInput] {
	return upcastProductItems(emmett.NewEvents[CheckoutInput](
		ProductItemAddedToShoppingCart{}, ProductItemRemovedFromShoppingCart{}, ShoppingCartConfirmed{},
		OrderPaid{}, OrderPaymentTimedOut{},
	))
}

// CheckoutOutputs returns the registry of the commands the checkout
// workflow sends, as its stream records them.
func CheckoutOutputs() *emmett.Events[OrderCommand] {
	return emmett.NewEvents[OrderCommand](PlaceOrder{}, CancelOrder{})
}

// Checkout is the state of a checkout: the cart's total as its items come
// and go, then its order's progress.
type Checkout struct {
	// ClientID is the cart's client.
	ClientID string
	// Total is the cart's total so far.
	Total Money
	// Status is "" while the cart is open, then the order's status as the
	// workflow knows it.
	Status string
}

// CheckoutWorkflow returns the checkout workflow: once a cart is
// confirmed, it places its order (PlaceOrder, with the total of the items
// it saw added and removed) and schedules the payment's timeout; if the
// order is not paid when it comes, it cancels it (CancelOrder). Its
// instances are the carts (stream checkout-{cartId}).
func CheckoutWorkflow(paymentTimeout time.Duration) workflow.Workflow[CheckoutInput, Checkout, OrderCommand] {
	type out = workflow.Output[CheckoutInput, OrderCommand]
	return workflow.Workflow[CheckoutInput, Checkout, OrderCommand]{
		Name: "checkout",
		ID: func(in CheckoutInput) string {
			switch in := in.(type) {
			case ProductItemAddedToShoppingCart:
				return in.ShoppingCartID
			case ProductItemRemovedFromShoppingCart:
				return in.ShoppingCartID
			case ShoppingCartConfirmed:
				return in.ShoppingCartID
			case OrderPaid:
				return in.OrderID
			case OrderPaymentTimedOut:
				return in.OrderID
			}
			return ""
		},
		Decide: func(in CheckoutInput, s Checkout) ([]out, error) {
			switch in := in.(type) {
			case ShoppingCartConfirmed:
				if s.Status != "" {
					return nil, nil
				}
				due := in.ConfirmedAt.Add(paymentTimeout)
				return []out{
					{Send: PlaceOrder{OrderID: in.ShoppingCartID, ClientID: in.ClientID, Total: s.Total, Now: in.ConfirmedAt}},
					{Schedule: OrderPaymentTimedOut{OrderID: in.ShoppingCartID, DueAt: due}, At: due},
				}, nil
			case OrderPaymentTimedOut:
				if s.Status != OrderAwaitingPayment {
					return nil, nil
				}
				return []out{{Send: CancelOrder{OrderID: in.OrderID, Reason: "payment timed out", Now: in.DueAt}}}, nil
			}
			return nil, nil
		},
		Evolve: func(s Checkout, m workflow.Message[CheckoutInput, OrderCommand]) Checkout {
			switch m.Kind {
			case workflow.Received:
				switch in := m.Input.(type) {
				case ProductItemAddedToShoppingCart:
					s.ClientID = in.ClientID
					s.Total = Money{Amount: round2(s.Total.Amount + in.ProductItem.TotalPrice()), Currency: in.ProductItem.UnitPrice.Currency}
				case ProductItemRemovedFromShoppingCart:
					s.Total.Amount = round2(s.Total.Amount - in.ProductItem.TotalPrice())
				case OrderPaid:
					s.Status = OrderPaidStatus
				}
			case workflow.Sent:
				switch m.Output.(type) {
				case PlaceOrder:
					s.Status = OrderAwaitingPayment
				case CancelOrder:
					s.Status = OrderCancelledStatus
				}
			}
			return s
		},
		InitialState: func() Checkout { return Checkout{} },
	}
}

// round2 rounds to cents.
func round2(x float64) float64 { return math.Round(x*100) / 100 }

// CheckoutStore is what the checkout workflow runs on.
type CheckoutStore = workflow.Store

// NewCheckout returns the processor of the checkout workflow on store,
// with the order commands routed to the orders' handler.
func NewCheckout(store CheckoutStore, paymentTimeout time.Duration, opts ...workflow.Option) *workflow.Processor[CheckoutInput, Checkout, OrderCommand] {
	return workflow.NewProcessor(store, CheckoutWorkflow(paymentTimeout), CheckoutInputs(), CheckoutOutputs(), OrderRouter(store), opts...)
}

// OrderRouter routes the order commands to their handler, each on its
// order's stream.
func OrderRouter(store eventstore.Store) *command.Router {
	orders := command.NewDeciderHandler(store, OrderDecider(), OrderEvents())
	r := command.NewRouter()
	command.Route(r, func(ctx context.Context, cmd OrderCommand, opts ...eventstore.AppendOption) error {
		_, err := orders.Handle(ctx, OrderStreamName(orderID(cmd)), cmd, opts...)
		return err
	})
	return r
}

func orderID(cmd OrderCommand) string {
	switch cmd := cmd.(type) {
	case PlaceOrder:
		return cmd.OrderID
	case PayOrder:
		return cmd.OrderID
	case CancelOrder:
		return cmd.OrderID
	}
	return ""
}
