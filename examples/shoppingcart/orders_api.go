package shoppingcart

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
)

// Waiter waits until an asynchronous processor has handled the event at a
// position: a projection.Processor, a workflow.Processor.
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// orderRoutes adds the orders' endpoints to mux: paying an order, and
// reading one (after waiting, with an X-Wait-For-Position header, for the
// checkout workflow to have handled that position: the confirmation of
// its cart places it).
func (a *App) orderRoutes(mux *http.ServeMux, problems *httpapi.Problems, opts []httpapi.CommandOption, clientOnly func(http.HandlerFunc) http.HandlerFunc, now func() time.Time) {
	orders := command.NewDeciderHandler(a.Store, OrderDecider(), OrderEvents())
	const order = "/clients/{clientId}/orders/{orderId}"
	mux.Handle("POST "+order+"/pay", httpapi.Command(orders, func(r *http.Request) (httpapi.CommandRequest[OrderCommand], error) {
		id := r.PathValue("orderId")
		return httpapi.CommandRequest[OrderCommand]{Stream: OrderStreamName(id),
			Command: PayOrder{OrderID: id, ClientID: r.PathValue("clientId"), Now: now().UTC()}}, nil
	}, opts...))

	mux.HandleFunc("GET "+order, clientOnly(func(w http.ResponseWriter, r *http.Request) {
		if err := a.waitFor(r, a.Checkout, "the checkout workflow"); err != nil {
			problems.WriteError(w, r, err)
			return
		}
		loaded, err := aggregate.Load(r.Context(), a.Store, OrderEvents(), OrderStreamName(r.PathValue("orderId")), OrderDecider().Evolve, OrderDecider().InitialState)
		switch {
		case err != nil:
			problems.WriteError(w, r, err)
		case loaded.State.ID == "" || loaded.State.ClientID != r.PathValue("clientId"):
			problems.WriteError(w, r, ErrOrderNotFound)
		default:
			w.Header().Set("ETag", httpapi.ETag(loaded.Version))
			_ = httpapi.WriteJSON(w, http.StatusOK, loaded.State)
		}
	}))
}

// waitFor waits, when the request has an X-Wait-For-Position header, for
// w (what, in errors) to have handled that position; not at all when w is
// nil.
func (a *App) waitFor(r *http.Request, w Waiter, what string) error {
	raw := r.Header.Get(WaitForHeader)
	if raw == "" || w == nil {
		return nil
	}
	// A position the store has no event at is a 400 on every store, at
	// once: it is never waited for (nor taken for the start of the log).
	pos, err := httpapi.ResolvePosition(r.Context(), a.Store, httpapi.InHeader, WaitForHeader, raw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := w.WaitFor(ctx, pos); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s has not caught up with %s yet: %w", what, pos, err)
		}
		return err
	}
	return nil
}
