package shoppingcart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/projection"
)

// Backend is what the app needs of a store: events, and the documents of
// the read models.
type Backend interface {
	eventstore.Store
	// Documents returns the store's document collections.
	Documents() projection.DocumentStore
}

// PriceProvider gives the current unit price of a product. Prices come
// from outside the domain: the command carries the price it was given.
type PriceProvider interface {
	// UnitPrice returns the price of one productID, or an error matching
	// ErrUnknownProduct for a product not on sale.
	UnitPrice(ctx context.Context, productID string) (Money, error)
}

// ErrUnknownProduct is returned by a PriceProvider for a product it does
// not sell.
var ErrUnknownProduct = fmt.Errorf("%w: unknown product", emmett.ErrNotFound)

// StaticPrices is a PriceProvider with a fixed catalogue.
type StaticPrices map[string]Money

// UnitPrice implements PriceProvider.
func (p StaticPrices) UnitPrice(_ context.Context, productID string) (Money, error) {
	price, ok := p[productID]
	if !ok {
		return Money{}, fmt.Errorf("%w %q", ErrUnknownProduct, productID)
	}
	return price, nil
}

// DefaultPrices is the catalogue the sample app sells, in DefaultCurrency.
func DefaultPrices() StaticPrices {
	prices := StaticPrices{}
	for product, amount := range map[string]float64{"shoes": 100, "socks": 3.5, "hat": 25, "scarf": 19.99, "gloves": 12.5} {
		prices[product] = Money{Amount: amount, Currency: DefaultCurrency}
	}
	return prices
}

// App is the shopping-cart HTTP API.
type App struct {
	// Store keeps events and the inline read models (cart details and
	// short info).
	Store Backend
	// Prices prices product items; DefaultPrices when nil.
	Prices PriceProvider
	// Summary is the processor of the asynchronous client summary read
	// model; a request with an X-Wait-For-Position header waits for it
	// before reading the summary.
	Summary *projection.Processor
	// Checkout is the processor of the checkout workflow (NewCheckout),
	// which places the orders of confirmed carts: a read of an order with
	// an X-Wait-For-Position header waits for it.
	Checkout Waiter
	// Streams serves the events for integration; not mounted when nil.
	Streams http.Handler
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger logs server errors; slog's default when nil.
	Logger *slog.Logger
	// Auth, when set, makes every request to a client's endpoints
	// (/clients/{clientId}/...) show that client's token: see Auth.
	// Without it, anyone may use any client's carts. It does not reach
	// Streams: give those the same Authorize (httpapi.WithAuthorizer),
	// or every client's events are open to all.
	Auth *Auth
}

// WaitForHeader names the request header holding a position (from a
// command's response, or an event's bare globalPosition) that a read of an
// asynchronous read model waits for. A position at which the store has no
// event is answered 400 (see httpapi.ResolvePosition).
const WaitForHeader = "X-Wait-For-Position"

// The reasons given for a quantity or a unit price out of bounds.
var (
	quantityRange  = fmt.Sprintf("quantity must be an integer from 1 to %d", MaxQuantity)
	unitPriceRange = fmt.Sprintf("unitPrice must be a number from 0 to %d", MaxUnitPrice)
)

// maxOpens bounds the carts one add opens, each found closed in turn (see
// currentCarts): past it, the add answers that the cart is closed.
const maxOpens = 8

// stateCacheSize is how many streams' states each command handler of the
// app keeps.
const stateCacheSize = 10_000

type addProductItemBody struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

// Handler returns the app's routes. A request for a path it has no route
// for is answered 404, and one with a method the path does not take 405,
// as problem details like every other error.
func (a *App) Handler() http.Handler {
	// The handlers keep the states of the streams they handled last: a
	// command reads only the events appended since (see
	// command.WithStateCache; the states are values, Evolve copies the
	// items' map).
	carts := command.NewDeciderHandler(a.Store, Decider(), Events(), command.WithStateCache(stateCacheSize))
	problems := &httpapi.Problems{Logger: a.Logger}
	opts := []httpapi.CommandOption{httpapi.WithProblems(problems)}
	// The command endpoints ask the Authorizer about each request before
	// decoding it; the reads below ask Auth themselves.
	clientOnly := func(h http.HandlerFunc) http.HandlerFunc { return h }
	if a.Auth != nil {
		opts = append(opts, httpapi.WithAuthorizer(a.Auth.Authorize))
		clientOnly = func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if err := a.Auth.client(r); err != nil {
					problems.WriteError(w, r, err)
					return
				}
				h(w, r)
			}
		}
	}
	prices := a.Prices
	if prices == nil {
		prices = DefaultPrices()
	}
	now := a.Now
	if now == nil {
		now = time.Now
	}
	details := CartDetailsProjection().Collection(a.Store.Documents())
	clients := &clientCarts{
		handler: command.NewDeciderHandler(a.Store, ClientCartsDecider(), ClientEvents(), command.WithStateCache(stateCacheSize)),
		now:     now,
	}
	// The commands of the client's current cart, found on the client's
	// stream; the cart's own stream says whether it is still open.
	current := &currentCarts{carts: carts, clients: clients}

	mux := http.NewServeMux()
	const currentPath = "/clients/{clientId}/shopping-carts/current"
	mux.Handle("POST "+currentPath+"/product-items", httpapi.Command(current, func(r *http.Request) (httpapi.CommandRequest[Command], error) {
		var body addProductItemBody
		if err := httpapi.DecodeJSON(r, &body); err != nil {
			return httpapi.CommandRequest[Command]{}, err
		}
		if body.ProductID == "" {
			return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InBody, Name: "productId", Reason: "productId is required"}
		}
		if body.Quantity <= 0 || body.Quantity > MaxQuantity {
			return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InBody, Name: "quantity", Reason: quantityRange}
		}
		price, err := prices.UnitPrice(r.Context(), body.ProductID)
		if err != nil {
			return httpapi.CommandRequest[Command]{}, err
		}
		if !validUnitPrice(price.Amount) || !validCurrency(price.Currency) {
			// The catalogue's fault, not the client's: a 500.
			return httpapi.CommandRequest[Command]{}, fmt.Errorf("shoppingcart: the price of %q is %v, not a valid unit price", body.ProductID, price)
		}
		clientID, cartID, err := clients.cartToAddTo(r)
		if err == nil && cartID == "" { // the client's first cart
			cartID, err = clients.open(r.Context(), clientID, "")
		}
		if err != nil {
			return httpapi.CommandRequest[Command]{}, err
		}
		return httpapi.CommandRequest[Command]{Stream: StreamName(cartID), Command: AddProductItemToShoppingCart{
			ShoppingCartID: cartID, ClientID: clientID, Now: now().UTC(),
			ProductItem: PricedProductItem{ProductID: body.ProductID, Quantity: body.Quantity, UnitPrice: price},
		}}, nil
	}, opts...))

	mux.Handle("DELETE "+currentPath+"/product-items", httpapi.Command(current, func(r *http.Request) (httpapi.CommandRequest[Command], error) {
		q := r.URL.Query()
		item := PricedProductItem{ProductID: q.Get("productId")}
		if item.ProductID == "" {
			return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InQuery, Name: "productId", Reason: "productId is required"}
		}
		// A missing parameter is said to be missing, not invalid.
		for _, name := range []string{"quantity", "unitPrice"} {
			if q.Get(name) == "" {
				return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InQuery, Name: name, Reason: name + " is required"}
			}
		}
		var err error
		if item.Quantity, err = strconv.Atoi(q.Get("quantity")); err != nil || item.Quantity <= 0 || item.Quantity > MaxQuantity {
			return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InQuery, Name: "quantity", Value: q.Get("quantity"), Reason: quantityRange}
		}
		// ParseFloat takes "NaN" and "Inf": validUnitPrice refuses them.
		if item.UnitPrice.Amount, err = strconv.ParseFloat(q.Get("unitPrice"), 64); err != nil || !validUnitPrice(item.UnitPrice.Amount) {
			return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InQuery, Name: "unitPrice", Value: q.Get("unitPrice"), Reason: unitPriceRange}
		}
		// The currency is optional: the cart's without it.
		if item.UnitPrice.Currency = q.Get("currency"); item.UnitPrice.Currency != "" && !validCurrency(item.UnitPrice.Currency) {
			return httpapi.CommandRequest[Command]{}, &httpapi.InputError{In: httpapi.InQuery, Name: "currency", Value: item.UnitPrice.Currency, Reason: "currency must be an ISO 4217 code of 3 capital letters"}
		}
		_, cartID, err := clients.currentCart(r)
		if err != nil {
			return httpapi.CommandRequest[Command]{}, err
		}
		return httpapi.CommandRequest[Command]{Stream: StreamName(cartID), Command: RemoveProductItemFromShoppingCart{
			ShoppingCartID: cartID, ProductItem: item, Now: now().UTC(),
		}}, nil
	}, opts...))

	mux.Handle("POST "+currentPath+"/confirm", httpapi.Command(current, func(r *http.Request) (httpapi.CommandRequest[Command], error) {
		_, cartID, err := clients.currentCart(r)
		return httpapi.CommandRequest[Command]{Stream: StreamName(cartID), Command: ConfirmShoppingCart{ShoppingCartID: cartID, Now: now().UTC()}}, err
	}, opts...))

	mux.Handle("DELETE "+currentPath, httpapi.Command(current, func(r *http.Request) (httpapi.CommandRequest[Command], error) {
		_, cartID, err := clients.currentCart(r)
		return httpapi.CommandRequest[Command]{Stream: StreamName(cartID), Command: CancelShoppingCart{ShoppingCartID: cartID, Now: now().UTC()}}, err
	}, opts...))

	mux.HandleFunc("GET "+currentPath, clientOnly(func(w http.ResponseWriter, r *http.Request) {
		_, cartID, err := clients.lastCart(r)
		if err == nil && cartID == "" {
			err = errNoCart
		}
		if err != nil {
			problems.WriteError(w, r, err)
			return
		}
		// The stream's version first, then the document: the document,
		// kept inline, is at least at that version, so the ETag is never
		// newer than what the client is shown. An append in between makes
		// it older, and the client's If-Match fails (412) where it could
		// have passed, never the other way round.
		v, _, err := a.Store.StreamVersion(r.Context(), StreamName(cartID))
		if err != nil {
			problems.WriteError(w, r, err)
			return
		}
		doc, found, err := details.Get(r.Context(), StreamName(cartID))
		switch {
		case err != nil:
			problems.WriteError(w, r, err)
		case !found || doc.Status != StatusOpened:
			problems.WriteError(w, r, errNoCart)
		default:
			w.Header().Set("ETag", httpapi.ETag(v))
			_ = httpapi.WriteJSON(w, http.StatusOK, doc)
		}
	}))

	summaries := ClientSummaryProjection().Collection(a.Store.Documents())
	mux.HandleFunc("GET /clients/{clientId}/shopping-carts/summary", clientOnly(func(w http.ResponseWriter, r *http.Request) {
		if err := a.waitForSummary(r); err != nil {
			problems.WriteError(w, r, err)
			return
		}
		doc, found, err := summaries.Get(r.Context(), r.PathValue("clientId"))
		switch {
		case err != nil:
			problems.WriteError(w, r, err)
		case !found:
			problems.WriteError(w, r, fmt.Errorf("%w: client has no shopping carts", emmett.ErrNotFound))
		default:
			doc.PendingCarts = nil
			_ = httpapi.WriteJSON(w, http.StatusOK, doc)
		}
	}))

	a.orderRoutes(mux, problems, opts, clientOnly, now)

	if a.Streams != nil {
		mux.Handle("/events/", http.StripPrefix("/events", a.Streams))
	}
	return httpapi.Routes(mux, problems)
}

var errNoCart = fmt.Errorf("%w: client has no open shopping cart", emmett.ErrNotFound)

// clientCarts finds a client's current cart, and opens one when it needs
// to: see ClientCarts for the rule and why it holds.
type clientCarts struct {
	handler *command.DeciderHandler[ClientCarts, ClientCommand, ClientEvent]
	now     func() time.Time
}

// lastCart returns the last cart the client's stream opened (open or not),
// or "" when it opened none.
func (c *clientCarts) lastCart(r *http.Request) (clientID, cartID string, err error) {
	clientID = r.PathValue("clientId")
	if clientID == "" {
		return "", "", &httpapi.InputError{In: httpapi.InPath, Name: "clientId", Reason: "clientId is required"}
	}
	state, err := c.handler.Load(r.Context(), ClientStreamName(clientID))
	if err != nil {
		return "", "", err
	}
	return clientID, state.State.Current, nil
}

// cartToAddTo returns the cart an add goes to: the client's last cart as
// the client handler's cache holds it, without a read, or else as the
// client's stream says. The cached one may be behind the stream only when
// it is closed: a client's next cart is opened only once the last one was
// found closed, and a closed cart stays closed. An add to it is then
// refused by the cart's own stream (ErrCartClosed), and the next cart is
// opened by a decision on the client's current stream, which names the
// cart opened meanwhile, or, closed too, the one after it (see
// currentCarts and ClientCarts).
func (c *clientCarts) cartToAddTo(r *http.Request) (clientID, cartID string, err error) {
	if clientID = r.PathValue("clientId"); clientID != "" {
		if st, ok := c.handler.Peek(ClientStreamName(clientID)); ok && st.State.Current != "" {
			return clientID, st.State.Current, nil
		}
	}
	return c.lastCart(r)
}

// currentCart returns the client's current cart: the last one its stream
// opened. Without one the answer is 404; whether that cart is still open
// is for its own stream to say (see currentCarts).
func (c *clientCarts) currentCart(r *http.Request) (clientID, cartID string, err error) {
	clientID, cartID, err = c.lastCart(r)
	if err == nil && cartID == "" {
		err = errNoCart
	}
	return clientID, cartID, err
}

// open opens the client's next cart and returns the client's current cart:
// the one it opened, or the one a concurrent request opened. closed is the
// client's last cart, found closed, or "" when the client has none. The
// cart is opened with the version of the client's stream that the handler
// reads: of concurrent requests, one appends, and each other one, retried,
// finds the cart that one opened and decides nothing.
func (c *clientCarts) open(ctx context.Context, clientID, closed string) (cartID string, err error) {
	res, err := c.handler.Handle(ctx, ClientStreamName(clientID), OpenShoppingCart{ClientID: clientID, Closed: closed, Now: c.now().UTC()})
	if err != nil {
		return "", err
	}
	return res.State.Current, nil
}

// currentCarts runs the commands of a client's current cart, named by the
// client's stream (clientCarts). The cart's stream says whether that cart
// is still open, as its decider sees it: an add to a cart that is closed
// opens the client's next cart and adds to that one, and the other
// commands on a cart that is closed, or has no item yet, are answered 404,
// as the client has no open cart.
type currentCarts struct {
	carts   *command.DeciderHandler[ShoppingCart, Command, Event]
	clients *clientCarts
}

// Handle implements httpapi.CommandHandler.
func (h *currentCarts) Handle(ctx context.Context, stream string, cmd Command, opts ...eventstore.AppendOption) (command.Result[ShoppingCart, Event], error) {
	res, err := h.carts.Handle(ctx, stream, cmd, opts...)
	// An add to a closed cart opens the next one. The cart opened in its
	// place may be closed too, when the cart the add was for was named by
	// a cached state several carts behind (see cartToAddTo): then the
	// next, until one is open. A cart opened here is open unless closed
	// meanwhile, so this ends at once but under contention.
	add, isAdd := cmd.(AddProductItemToShoppingCart)
	for tries := 0; isAdd && errors.Is(err, ErrCartClosed) && tries < maxOpens; tries++ {
		if add.ShoppingCartID, err = h.clients.open(ctx, add.ClientID, add.ShoppingCartID); err != nil {
			return command.Result[ShoppingCart, Event]{}, err
		}
		res, err = h.carts.Handle(ctx, StreamName(add.ShoppingCartID), add, opts...)
	}
	if errors.Is(err, ErrCartNotOpened) {
		return res, errNoCart
	}
	return res, err
}

// CartID is the id of a client's nth cart.
func CartID(clientID string, n int64) string { return clientID + ":" + strconv.FormatInt(n, 10) }

func (a *App) waitForSummary(r *http.Request) error {
	if a.Summary == nil {
		return nil
	}
	return a.waitFor(r, a.Summary, "the client summary")
}
