package projection_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
)

// A Group spreads an application's processors over its live instances.
// Each instance (a process, on its own host or not) creates the group
// with the same processors and runs it; here two instances share one
// in-memory store. Each of them runs two of the four processors; when one
// stops, the other takes its processors over.
func ExampleGroup() {
	ctx := context.Background()
	store := memory.New()
	processors := func() []*projection.Processor {
		var ps []*projection.Processor
		for _, id := range []string{"emails", "invoices", "loyalty", "search"} {
			ps = append(ps, projection.NewReactorProcessor(store.Processors(), store.Source(), id, nil,
				func(context.Context, emmett.RecordedEvent) error { return nil }))
		}
		return ps
	}
	run := func(instance string) (*projection.Group, context.CancelFunc) {
		g := projection.NewGroup(store.Membership(), "shop", processors(),
			projection.WithInstanceID(instance), projection.WithInstanceTTL(time.Second))
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			if err := g.Run(ctx); err != nil {
				log.Fatal(err)
			}
		}()
		return g, cancel
	}
	a, stopA := run("instance-a")
	b, stopB := run("instance-b")
	defer stopB()
	waitRunning(a, 2)
	waitRunning(b, 2)
	fmt.Println("instance-a runs", a.Running())
	fmt.Println("instance-b runs", b.Running())

	stopA() // it leaves the group: instance-b takes over at its next heartbeat
	waitRunning(b, 4)
	fmt.Println("instance-b runs", b.Running())
	// Output:
	// instance-a runs [emails search]
	// instance-b runs [invoices loyalty]
	// instance-b runs [emails invoices loyalty search]
}

// waitRunning waits until g runs the n processors assigned to it.
func waitRunning(g *projection.Group, n int) {
	for len(g.Assigned()) != n || !slices.Equal(g.Running(), g.Assigned()) {
		time.Sleep(10 * time.Millisecond)
	}
}
