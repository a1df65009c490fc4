package wasm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/require"
)

// cartAppend is one append of a scenario.
type cartAppend struct {
	stream string
	events []sc.Event
}

// scenario runs random valid commands against carts, through the
// shopping cart's Decider, and returns the appends they make: carts opened,
// items added (merged by product and price) and removed, carts confirmed
// and cancelled (every fourth cart stays open), some appends with several
// events.
func scenario(seed uint64, carts, steps int) []cartAppend {
	rng := rand.New(rand.NewPCG(seed, 1))
	products := []string{"shoes", "socks", "hat", "scarf"}
	prices := []float64{100, 9.99, 0.1, 0.2, 17.5, 3.33}
	clients := []string{"ann", "bob", "cid"}
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("", -5*3600-1800)}
	states := make([]sc.ShoppingCart, carts)
	for i := range states {
		states[i] = sc.InitialState()
	}
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	var out []cartAppend
	for step := 0; len(out) < steps && step < steps*20; step++ {
		i := rng.IntN(carts)
		id := fmt.Sprintf("c%03d", i)
		now := start.Add(time.Duration(step) * 97 * time.Second).Add(time.Duration(rng.IntN(1000)) * time.Millisecond).In(zones[rng.IntN(len(zones))])
		item := func() sc.PricedProductItem {
			return sc.PricedProductItem{ProductID: products[rng.IntN(len(products))], Quantity: 1 + rng.IntN(5), UnitPrice: sc.EUR(prices[rng.IntN(len(prices))])}
		}
		var cmds []sc.Command
		switch st := states[i].(type) {
		case sc.EmptyShoppingCart:
			cmds = []sc.Command{sc.AddProductItemToShoppingCart{ShoppingCartID: id, ClientID: clients[i%len(clients)], ProductItem: item(), Now: now}}
		case sc.OpenedShoppingCart:
			r := rng.IntN(100)
			if i%4 == 3 { // some carts stay open
				r %= 75
			}
			switch {
			case r < 45:
				cmds = []sc.Command{sc.AddProductItemToShoppingCart{ShoppingCartID: id, ClientID: st.ClientID, ProductItem: item(), Now: now}}
				if r < 10 { // two in one append
					cmds = append(cmds, sc.AddProductItemToShoppingCart{ShoppingCartID: id, ClientID: st.ClientID, ProductItem: item(), Now: now})
				}
			case r < 75:
				for key, qty := range st.ProductItems {
					cmds = []sc.Command{sc.RemoveProductItemFromShoppingCart{ShoppingCartID: id,
						ProductItem: sc.PricedProductItem{ProductID: key.ProductID, UnitPrice: key.UnitPrice, Quantity: 1 + rng.IntN(qty)}, Now: now}}
					break
				}
			case r < 88:
				cmds = []sc.Command{sc.ConfirmShoppingCart{ShoppingCartID: id, Now: now}}
			default:
				cmds = []sc.Command{sc.CancelShoppingCart{ShoppingCartID: id, Now: now}}
			}
		default:
			continue
		}
		var events []sc.Event
		state := states[i]
		for _, cmd := range cmds {
			evs, err := sc.Decide(cmd, state)
			if err != nil {
				continue
			}
			for _, e := range evs {
				state = sc.Evolve(state, e)
			}
			events = append(events, evs...)
		}
		if len(events) > 0 {
			states[i] = state
			out = append(out, cartAppend{stream: sc.StreamName(id), events: events})
		}
	}
	return out
}

func appendScenario(t testing.TB, store eventstore.Appender, appends []cartAppend) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for _, a := range appends {
		data, err := eventstore.Encode(sc.Events(), a.events, emmettMetadata)
		require.NoError(t, err)
		res, err := store.AppendToStream(context.Background(), a.stream, data)
		require.NoError(t, err)
		last = res.Position
	}
	return last
}

// rawDocuments returns a collection's documents as stored.
func rawDocuments(t testing.TB, docs projection.DocumentStore, collection string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for d, err := range docs.Find(context.Background(), collection, projection.Query{}) {
		require.NoError(t, err)
		out[d.ID] = string(d.Data)
	}
	return out
}

// details decodes documents.
func details(t testing.TB, raw map[string]string) map[string]sc.ShoppingCartDetails {
	t.Helper()
	out := map[string]sc.ShoppingCartDetails{}
	for id, data := range raw {
		var d sc.ShoppingCartDetails
		require.NoError(t, json.Unmarshal([]byte(data), &d))
		out[id] = d
	}
	return out
}

// wasmCartDetails loads the cart details module as a projection keeping
// its documents in the named collection.
func wasmCartDetails(t testing.TB, collection string, opts ...wasm.Option) *wasm.Projection {
	t.Helper()
	m := wasmtest.Load(t, "./cartdetails", opts...)
	p, err := wasm.NewProjection(m, sc.CartDetailsName, wasm.WithCollection(collection))
	require.NoError(t, err)
	return p
}
