package projection_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
)

// A reactor whose mailer refuses one cart's mail: with ParkOnFailure, the
// processor parks that event once the retries are exhausted and goes on
// with the others. Once the cause is mended, RetryParked delivers the
// parked event again (with its message id), and it is no longer parked.
func ExampleWithFailurePolicy() {
	ctx := context.Background()
	store := memory.New()

	var mended atomic.Bool // the mail server refuses cart-2's address until mended
	mailer := projection.NewReactorProcessor(store.Processors(), store.Source(), "confirmation_mails",
		[]string{"CartConfirmed"},
		func(ctx context.Context, e emmett.RecordedEvent) error {
			if e.StreamName == "cart-2" && !mended.Load() {
				return errors.New("mailbox unavailable")
			}
			fmt.Println("mail: your", e.StreamName, "is confirmed")
			return nil
		},
		projection.WithFailurePolicy(projection.ParkOnFailure),
		projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond}))

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mailer.Run(runCtx) }()

	appendCart(ctx, store, "cart-1", CartConfirmed{})
	appendCart(ctx, store, "cart-2", CartConfirmed{})
	pos := appendCart(ctx, store, "cart-3", CartConfirmed{})
	if err := mailer.WaitFor(ctx, pos); err != nil {
		log.Fatal(err)
	}

	parked, err := mailer.Parked(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range parked {
		fmt.Printf("parked: %s of %s after %d attempts: %s\n", p.Event.Type, p.Event.StreamName, p.Attempts, p.Error)
	}

	mended.Store(true)
	if err := mailer.RetryParked(ctx, parked[0].ID); err != nil {
		log.Fatal(err)
	}
	parked, _ = mailer.Parked(ctx)
	fmt.Println("parked now:", len(parked))

	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// mail: your cart-1 is confirmed
	// mail: your cart-3 is confirmed
	// parked: CartConfirmed of cart-2 after 2 attempts: mailbox unavailable
	// mail: your cart-2 is confirmed
	// parked now: 0
}

// A batch job: CatchUp runs the projector until it has processed what was
// appended before the call, then returns, its checkpoint stored for the
// next run (or for an instance that runs it continuously).
func ExampleProcessor_CatchUp() {
	ctx := context.Background()
	store := memory.New()
	summaries := projection.SingleStream("cart_summaries", cartEvents, evolveSummary)
	projector := projection.NewProjectionProcessor(store.Processors(), store.Source(), summaries)

	appendCart(ctx, store, "cart-1", ItemAdded{Client: "ann", Product: "tea", Price: 4.5}, CartConfirmed{})
	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "mug", Price: 8})
	if err := projector.CatchUp(ctx); err != nil {
		log.Fatal(err)
	}
	all, _ := summaries.Collection(store.Documents()).Find(ctx)
	for _, c := range all {
		fmt.Printf("%s: %.2f\n", c.Client, c.Total)
	}

	appendCart(ctx, store, "cart-2", ItemAdded{Client: "bob", Product: "pot", Price: 20})
	if err := projector.CatchUp(ctx); err != nil { // from its checkpoint
		log.Fatal(err)
	}
	bob, _, _ := summaries.Collection(store.Documents()).Get(ctx, "cart-2")
	fmt.Printf("bob: %.2f\n", bob.Total)
	// Output:
	// ann: 4.50
	// bob: 8.00
	// bob: 28.00
}
