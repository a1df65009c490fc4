package shoppingcart

import (
	"fmt"
	"time"

	"github.com/emmett-go/emmett/emmett"
)

// A client has at most one open cart: the rule spans the client's carts, so
// no cart's stream can enforce it. The client's own stream does: it records
// each cart opened for the client, and opening one is an append to it with
// the version that was read, so that of two concurrent first adds only one
// opens a cart and the other, retried, finds that cart. The event on the
// client's stream is what makes a cart the client's current one; the cart's
// stream is created by the cart's first item, which may come later (or,
// after a crash between the two appends, with the client's next add).
//
// Closing a cart (confirming or cancelling it) is an event of the cart's
// stream alone. Whoever opens the next cart says which cart it found
// closed, and a cart stays closed for good, so a stale "closed" cannot be
// read: the client's stream opens a cart only while the one it names as
// current is the one found closed.

// ClientCarts is the state of a client's stream: how many carts were opened
// for the client, and the last one, its current cart unless that one is
// closed.
type ClientCarts struct {
	// Opened is the number of carts opened for the client.
	Opened int64
	// Current is the id of the last cart opened, or "".
	Current string
}

// ClientStreamName returns the name of a client's stream.
func ClientStreamName(clientID string) string { return "client_shopping_carts-" + clientID }

// ClientCommand is a command of a client's stream.
type ClientCommand interface{ isClientCommand() }

// OpenShoppingCart opens a new cart for a client that has none open.
type OpenShoppingCart struct {
	// ClientID is the client.
	ClientID string
	// Closed is the client's current cart, when the caller found it closed
	// (confirmed or cancelled), or "" when the client has none. A client
	// whose current cart is another one keeps it: that cart was opened
	// after the caller looked.
	Closed string
	// Now is the time of the command.
	Now time.Time
}

func (OpenShoppingCart) isClientCommand() {}

// ClientEvent is an event of a client's stream.
type ClientEvent interface{ isClientEvent() }

// ShoppingCartOpened records a cart opened for a client, which becomes the
// client's current cart.
type ShoppingCartOpened struct {
	// ClientID is the client.
	ClientID string `json:"clientId"`
	// ShoppingCartID is the new cart's id.
	ShoppingCartID string `json:"shoppingCartId"`
	// OpenedAt is when it was opened.
	OpenedAt time.Time `json:"openedAt"`
}

func (ShoppingCartOpened) isClientEvent() {}

// ClientEvents returns the registry of the events of clients' streams.
func ClientEvents() *emmett.Events[ClientEvent] {
	return emmett.NewEvents[ClientEvent](ShoppingCartOpened{})
}

// ClientCartsDecider is the Decider of a client's stream.
func ClientCartsDecider() emmett.Decider[ClientCarts, ClientCommand, ClientEvent] {
	return emmett.Decider[ClientCarts, ClientCommand, ClientEvent]{
		Decide:       DecideClientCarts,
		Evolve:       EvolveClientCarts,
		InitialState: func() ClientCarts { return ClientCarts{} },
	}
}

// DecideClientCarts decides a command of a client's stream. Opening a cart
// when the client's current cart is not the one the command found closed
// decides nothing: the current cart stays.
func DecideClientCarts(cmd ClientCommand, state ClientCarts) ([]ClientEvent, error) {
	switch c := cmd.(type) {
	case OpenShoppingCart:
		if c.ClientID == "" {
			return nil, ErrInvalidClientID
		}
		if state.Current != "" && state.Current != c.Closed {
			return nil, nil
		}
		return []ClientEvent{ShoppingCartOpened{ClientID: c.ClientID, ShoppingCartID: CartID(c.ClientID, state.Opened+1), OpenedAt: c.Now}}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %T", emmett.ErrValidation, cmd)
}

// EvolveClientCarts applies an event to a client's stream's state.
func EvolveClientCarts(state ClientCarts, event ClientEvent) ClientCarts {
	if e, ok := event.(ShoppingCartOpened); ok {
		return ClientCarts{Opened: state.Opened + 1, Current: e.ShoppingCartID}
	}
	return state
}
