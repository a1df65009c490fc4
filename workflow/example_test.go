package workflow_test

import (
	"context"
	"fmt"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/workflow"
)

// A processor runs the checkout workflow: an order placed gets its
// payment requested (a command, through the router), and a timeout
// scheduled; a payment completes it (an event published).
func ExampleNewProcessor() {
	ctx := context.Background()
	store := memory.New()
	router := newRouter(store, nil, nil) // RequestPayment and CancelOrder to their handlers
	p := workflow.NewProcessor(store, checkout(15*time.Minute), inputs, outputs, router)

	appendEvent := func(stream string, in Input) {
		data, _ := eventstore.Encode(inputs, []Input{in}, emmett.Metadata{})
		_, _ = store.AppendToStream(ctx, stream, data)
	}
	appendEvent("order-1", OrderPlaced{OrderID: "1", Amount: 30})
	_ = p.CatchUp(ctx)
	appendEvent("order-1", PaymentReceived{OrderID: "1"})
	_ = p.CatchUp(ctx)

	for _, stream := range []string{p.Stream("1"), "payment-1", "completed-1"} {
		fmt.Print(stream, ":")
		for rec := range store.ReadStream(ctx, stream) {
			fmt.Print(" ", rec.Type)
		}
		fmt.Println()
	}
	// Output:
	// checkout-1: received:OrderPlaced sent:RequestPayment scheduled:PaymentTimedOut received:PaymentReceived published:OrderCompleted
	// payment-1: PaymentRequested
	// completed-1: OrderCompleted
}

// Run decides an input without a store: here the timeout of an order
// still waiting for its payment.
func ExampleWorkflow_Run() {
	wf := checkout(15 * time.Minute)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	state, outs, _ := wf.Run(now, PaymentTimedOut{OrderID: "1"},
		workflow.Message[Input, Output]{Kind: workflow.Received, Input: OrderPlaced{OrderID: "1", Amount: 30}})
	fmt.Printf("%+v %+v\n", outs, state)
	// Output:
	// [{Send:{OrderID:1} Publish:<nil> To: Schedule:<nil> At:0001-01-01 00:00:00 +0000 UTC After:0s}] {Status:cancelled}
}
