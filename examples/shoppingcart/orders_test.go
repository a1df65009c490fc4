package shoppingcart_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type checkoutOut = workflow.Output[sc.CheckoutInput, sc.OrderCommand]

var (
	checkoutWF = sc.CheckoutWorkflow(15 * time.Minute)
	due        = later.Add(15 * time.Minute)
	timedOut   = sc.OrderPaymentTimedOut{OrderID: cartID, DueAt: due}
	paid       = sc.OrderPaid{OrderID: cartID, PaidAt: later}
)

func TestCheckoutWorkflow(t *testing.T) {
	t.Run("AConfirmedCartIsPlacedAsAnOrderThatWaitsForItsPayment", func(t *testing.T) {
		spec.ForWorkflow(t, checkoutWF).
			Given(added(shoes), added(socks), removed(with(socks, 1))).
			When(confirmed).
			Then(
				checkoutOut{Send: sc.PlaceOrder{OrderID: cartID, ClientID: "client-1", Total: sc.EUR(214), Now: later}},
				checkoutOut{Schedule: timedOut, At: due},
			).
			ThenState(sc.Checkout{ClientID: "client-1", Total: sc.EUR(214), Status: sc.OrderAwaitingPayment})
	})
	t.Run("AnOrderNotPaidInTimeIsCancelled", func(t *testing.T) {
		spec.ForWorkflow(t, checkoutWF).
			Given(added(shoes), confirmed).
			When(timedOut).
			Then(checkoutOut{Send: sc.CancelOrder{OrderID: cartID, Reason: "payment timed out", Now: due}})
	})
	t.Run("APaidOrderIsNotCancelled", func(t *testing.T) {
		spec.ForWorkflow(t, checkoutWF).Given(added(shoes), confirmed, paid).When(timedOut).ThenNothing()
	})
	t.Run("AConfirmationSeenTwicePlacesOneOrder", func(t *testing.T) {
		spec.ForWorkflow(t, checkoutWF).Given(added(shoes), confirmed).When(confirmed).ThenNothing()
	})
	t.Run("AnOpenCartDecidesNothing", func(t *testing.T) {
		spec.ForWorkflow(t, checkoutWF).When(added(hat)).ThenNothing()
	})
}

func TestOrderDecider(t *testing.T) {
	d := sc.OrderDecider()
	place := sc.PlaceOrder{OrderID: cartID, ClientID: "client-1", Total: sc.EUR(25), Now: now}
	placed := sc.OrderPlaced{OrderID: cartID, ClientID: "client-1", Total: sc.EUR(25), PlacedAt: now}
	pay := sc.PayOrder{OrderID: cartID, ClientID: "client-1", Now: later}
	cancelOrder := sc.CancelOrder{OrderID: cartID, Reason: "payment timed out", Now: later}
	orderCancelled := sc.OrderCancelled{OrderID: cartID, Reason: "payment timed out", CancelledAt: later}

	spec.For(t, d).When(place).Then(placed)
	spec.For(t, d).Given(placed).When(place).ThenNothingHappened()
	spec.For(t, d).Given(placed).When(pay).Then(paid).
		ThenState(sc.Order{ID: cartID, ClientID: "client-1", Total: sc.EUR(25), Status: sc.OrderPaidStatus})
	spec.For(t, d).When(pay).ThenError(sc.ErrOrderNotFound)
	spec.For(t, d).Given(placed).When(sc.PayOrder{OrderID: cartID, ClientID: "bob"}).ThenError(sc.ErrOrderNotFound)
	spec.For(t, d).Given(placed, paid).When(pay).ThenError(sc.ErrOrderPaid)
	spec.For(t, d).Given(placed, orderCancelled).When(pay).ThenError(sc.ErrOrderCanceled)
	spec.For(t, d).Given(placed).When(cancelOrder).Then(orderCancelled)
	spec.For(t, d).Given(placed, paid).When(cancelOrder).ThenNothingHappened()
}

// The checkout workflow's processor on SQLite: a confirmed cart placed as
// an order, then cancelled when its payment times out; a paid one stays
// paid.
func TestCheckoutProcessor(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "orders.db"))
	require.NoError(t, err)
	defer store.Close()
	at := now
	p := sc.NewCheckout(store, 15*time.Minute, workflow.WithClock(func() time.Time { return at }))
	inputs := sc.CheckoutInputs()
	two := sc.ShoppingCartConfirmed{ShoppingCartID: "cart-2", ClientID: "client-1", ConfirmedAt: later}
	addedTwo := added(hat)
	addedTwo.ShoppingCartID = "cart-2"
	run := spec.ForWorkflowProcessor(t, store, p, inputs).
		Given(sc.StreamName(cartID), added(shoes), confirmed).
		Given(sc.StreamName("cart-2"), addedTwo).
		When(sc.StreamName("cart-2"), two).
		ThenStream(sc.OrderStreamName(cartID), "OrderPlaced").
		ThenStream(sc.OrderStreamName("cart-2"), "OrderPlaced").
		ThenStream("checkout-"+cartID, "received:ProductItemAddedToShoppingCart", "received:ShoppingCartConfirmed",
			"sent:PlaceOrder", "scheduled:OrderPaymentTimedOut")
	require.NoError(t, sc.OrderRouter(store).Send(ctx, sc.PayOrder{OrderID: "cart-2", ClientID: "client-1", Now: later}))
	at = due
	run.When(sc.StreamName(cartID)).
		ThenStream(sc.OrderStreamName(cartID), "OrderPlaced", "OrderCancelled").
		ThenStream(sc.OrderStreamName("cart-2"), "OrderPlaced", "OrderPaid")
}

// An order through the API: confirmed, read once the workflow placed it,
// paid; a second one cancelled by its timeout can no longer be paid.
func TestOrderEndpoints(t *testing.T) {
	store, app := newApp(t)
	var at atomic.Pointer[time.Time] // the processor's clock, moved by the test
	at.Store(&now)
	checkout := sc.NewCheckout(store, 15*time.Minute, workflow.WithClock(func() time.Time { return *at.Load() }), workflow.WithSchedulePoll(10*time.Millisecond))
	app.Checkout = checkout
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = checkout.Run(ctx) }()
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()

	do := func(method, path, body string, header ...string) (int, string) {
		req, err := http.NewRequest(method, srv.URL+path, stringReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, string(out)
	}
	position := func(body string) string {
		var out struct{ Position string }
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		return out.Position
	}
	order := func(id, pos string) sc.Order {
		status, body := do(http.MethodGet, "/clients/ann/orders/"+id, "", sc.WaitForHeader, pos)
		require.Equal(t, http.StatusOK, status, body)
		var o sc.Order
		require.NoError(t, json.Unmarshal([]byte(body), &o))
		return o
	}

	do(http.MethodPost, "/clients/ann/shopping-carts/current/product-items", `{"productId":"shoes","quantity":1}`)
	_, body := do(http.MethodPost, "/clients/ann/shopping-carts/current/confirm", "")
	assert.Equal(t, sc.Order{ID: "ann:1", ClientID: "ann", Total: sc.EUR(100), Status: sc.OrderAwaitingPayment}, order("ann:1", position(body)))
	status, body := do(http.MethodPost, "/clients/ann/orders/ann:1/pay", "")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, sc.OrderPaidStatus, order("ann:1", position(body)).Status)
	status, _ = do(http.MethodPost, "/clients/ann/orders/ann:1/pay", "")
	assert.Equal(t, http.StatusForbidden, status, "paid already")
	status, _ = do(http.MethodGet, "/clients/bob/orders/ann:1", "")
	assert.Equal(t, http.StatusNotFound, status, "not bob's")

	do(http.MethodPost, "/clients/ann/shopping-carts/current/product-items", `{"productId":"hat","quantity":2}`)
	_, body = do(http.MethodPost, "/clients/ann/shopping-carts/current/confirm", "")
	assert.Equal(t, sc.OrderAwaitingPayment, order("ann:2", position(body)).Status)
	pastDue := now.Add(16 * time.Minute)
	at.Store(&pastDue)
	require.Eventually(t, func() bool { return order("ann:2", "").Status == sc.OrderCancelledStatus }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, "payment timed out", order("ann:2", "").Reason)
	status, _ = do(http.MethodPost, "/clients/ann/orders/ann:2/pay", "")
	assert.Equal(t, http.StatusForbidden, status, "cancelled")
	assert.Equal(t, sc.OrderPaidStatus, order("ann:1", "").Status, "the paid order's timeout changed nothing")
}
