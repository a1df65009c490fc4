// Command shoppingcart runs the sample shopping-cart application.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
)

func main() {
	if err := demo(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// demo drives one cart through its life on the in-memory store, printing
// each step.
func demo(ctx context.Context) error {
	store := memory.New()
	carts := command.NewDeciderHandler(store, sc.Decider(), sc.Events())
	stream := sc.StreamName("demo")
	now := time.Now().UTC()
	shoes := sc.PricedProductItem{ProductID: "shoes", Quantity: 2, UnitPrice: 100}
	socks := sc.PricedProductItem{ProductID: "socks", Quantity: 3, UnitPrice: 5}

	steps := []struct {
		title string
		cmd   sc.Command
		opts  []command.HandleOption
	}{
		{"add 2 shoes", sc.AddProductItemToShoppingCart{ShoppingCartID: "demo", ClientID: "ann", ProductItem: shoes, Now: now}, nil},
		{"add 3 socks", sc.AddProductItemToShoppingCart{ShoppingCartID: "demo", ClientID: "ann", ProductItem: socks, Now: now}, nil},
		{"remove 1 sock", sc.RemoveProductItemFromShoppingCart{ShoppingCartID: "demo", ProductItem: sc.PricedProductItem{ProductID: "socks", Quantity: 1, UnitPrice: 5}, Now: now}, nil},
		{"remove 5 shoes (too many)", sc.RemoveProductItemFromShoppingCart{ShoppingCartID: "demo", ProductItem: sc.PricedProductItem{ProductID: "shoes", Quantity: 5, UnitPrice: 100}, Now: now}, nil},
		{"confirm at a stale version", sc.ConfirmShoppingCart{ShoppingCartID: "demo", Now: now}, []command.HandleOption{command.ExpectVersion(1)}},
		{"confirm", sc.ConfirmShoppingCart{ShoppingCartID: "demo", Now: now}, nil},
		{"add to the confirmed cart", sc.AddProductItemToShoppingCart{ShoppingCartID: "demo", ClientID: "ann", ProductItem: shoes, Now: now}, nil},
	}
	for _, step := range steps {
		res, err := carts.Handle(ctx, stream, step.cmd, step.opts...)
		switch {
		case errors.Is(err, eventstore.ErrVersionConflict), errors.Is(err, emmett.ErrIllegalState):
			fmt.Printf("%-28s -> rejected: %v\n", step.title, err)
		case err != nil:
			return err
		default:
			for _, e := range res.Events {
				fmt.Printf("%-28s -> %s at version %d: %s\n", step.title, e.Type, e.StreamPosition, e.Data)
			}
		}
	}
	fmt.Println("\nthe stream as stored:")
	for e, err := range store.ReadStream(ctx, stream) {
		if err != nil {
			return err
		}
		fmt.Printf("  %d %-36s %s\n", e.StreamPosition, e.Type, e.Data)
	}
	return nil
}
