//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/google/uuid"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/serdes"
	"github.com/ncruces/go-sqlite3/vfs/memdb"
)

// pending is a command made in the page and not yet accepted by the
// server: the request to send, the version of the server's cart it was
// made on (sent as If-Match), and its idempotency key (a resend after a
// lost answer is stored once).
type pending struct {
	Seq      int64  `json:"seq"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Body     string `json:"body,omitempty"`
	Expected int64  `json:"expected"`
	Key      string `json:"key"`
	What     string `json:"what"`
}

// syncState is what the page knows of the server, kept in the local
// database beside the events.
type syncState struct {
	ClientID      string        `json:"clientId"`
	Cart          int64         `json:"cart"` // the number of the local cart
	NextSeq       int64         `json:"nextSeq"`
	ServerStream  string        `json:"serverStream"`
	ServerVersion int64         `json:"serverVersion"`
	Conflicts     []string      `json:"conflicts"`
	ServerEvents  []serverEvent `json:"serverEvents"`
}

// serverEvent is an event of the client's cart on the server, as the
// SSE feed sent it.
type serverEvent struct {
	Stream   string `json:"streamName"`
	Position int64  `json:"streamPosition"`
	Type     string `json:"type"`
}

// local is the shopping cart in the page: the decider, the SQLite store
// with the inline cart details, the command path, the outbox of commands
// for the server.
type local struct {
	mu      sync.Mutex // one command (or sync step) at a time
	db      *sql.DB
	store   *sqlite.Store
	carts   *command.DeciderHandler[sc.ShoppingCart, sc.Command, sc.Event]
	details projection.Collection[sc.ShoppingCartDetails]
	outbox  projection.Collection[pending]
	meta    projection.Collection[syncState]
	save    func([]byte) error // persists the database's bytes
	prices  sc.StaticPrices
	online  bool
}

const dbName = "cart.db"

// openLocal opens the page's store on the database image saved (nil the
// first time), in ncruces's in-memory VFS.
func openLocal(ctx context.Context, saved []byte, clientID string, save func([]byte) error) (*local, error) {
	memdb.Create(dbName, saved)
	db, err := sql.Open(sqlite.DriverName, "file:/"+dbName+"?vfs=memdb&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	store, err := sqlite.New(ctx, db, db, sqlite.WithProjections(sc.CartDetailsProjection()))
	if err != nil {
		return nil, err
	}
	l := &local{
		db: db, store: store, save: save, prices: sc.DefaultPrices(),
		carts:   command.NewDeciderHandler(store, sc.Decider(), sc.Events()),
		details: sc.CartDetailsProjection().Collection(store.Documents()),
		outbox:  projection.NewCollection[pending](store.Documents(), "web_outbox"),
		meta:    projection.NewCollection[syncState](store.Documents(), "web_sync"),
	}
	st, err := l.state(ctx)
	if err != nil {
		return nil, err
	}
	if st.ClientID == "" {
		st.ClientID, st.Cart = clientID, 1
		if err := l.meta.Put(ctx, "state", st); err != nil {
			return nil, err
		}
		if err := l.persist(ctx); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *local) state(ctx context.Context) (syncState, error) {
	st, _, err := l.meta.Get(ctx, "state")
	return st, err
}

func (l *local) cartID(st syncState) string { return sc.CartID("web-"+st.ClientID, st.Cart) }

// persist saves the database's bytes (a backup through serdes).
func (l *local) persist(ctx context.Context) error {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var image []byte
	if err := conn.Raw(func(dc any) error {
		image, err = serdes.Serialize(dc.(driver.Conn).Raw(), "main")
		return err
	}); err != nil {
		return err
	}
	return l.save(image)
}

// handle runs a command on the local cart, queues its request for the
// server and saves the database.
func (l *local) handle(ctx context.Context, what string, cmd func(cartID string, st syncState) (sc.Command, pending, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.state(ctx)
	if err != nil {
		return err
	}
	id := l.cartID(st)
	c, req, err := cmd(id, st)
	if err != nil {
		return err
	}
	res, err := l.carts.Handle(ctx, sc.StreamName(id), c)
	if err != nil {
		return err
	}
	if len(res.Events) > 0 {
		queued, err := l.outbox.Find(ctx)
		if err != nil {
			return err
		}
		// The server's cart gets one event per command: this one is made
		// on the version the server has after the queued ones (a
		// confirmation closes the cart: the next command goes to a new
		// one, at version 0).
		req.Seq, req.What, req.Key = st.NextSeq, what, uuid.NewString()
		req.Expected = st.ServerVersion
		for _, q := range queued {
			req.Expected++
			if q.What == whatConfirm {
				req.Expected = 0
			}
		}
		st.NextSeq++
		if err := l.outbox.Put(ctx, fmt.Sprintf("%012d", req.Seq), req); err != nil {
			return err
		}
	}
	if _, closed := res.State.(sc.ClosedShoppingCart); closed {
		st.Cart++ // the next add opens a new cart
	}
	if err := l.meta.Put(ctx, "state", st); err != nil {
		return err
	}
	return l.persist(ctx)
}

const current = "/clients/%s/shopping-carts/current"

// whatConfirm describes a confirmation in the outbox.
const whatConfirm = "confirm"

func (l *local) add(ctx context.Context, productID string, quantity int) error {
	return l.handle(ctx, fmt.Sprintf("add %d × %s", quantity, productID), func(id string, st syncState) (sc.Command, pending, error) {
		price, err := l.prices.UnitPrice(ctx, productID)
		if err != nil {
			return nil, pending{}, err
		}
		body, _ := json.Marshal(map[string]any{"productId": productID, "quantity": quantity})
		return sc.AddProductItemToShoppingCart{ShoppingCartID: id, ClientID: st.ClientID, Now: time.Now().UTC(),
				ProductItem: sc.PricedProductItem{ProductID: productID, Quantity: quantity, UnitPrice: price}},
			pending{Method: http.MethodPost, Path: fmt.Sprintf(current, url.PathEscape(st.ClientID)) + "/product-items", Body: string(body)}, nil
	})
}

func (l *local) remove(ctx context.Context, productID string, quantity int, unitPrice float64, currency string) error {
	return l.handle(ctx, fmt.Sprintf("remove %d × %s", quantity, productID), func(id string, st syncState) (sc.Command, pending, error) {
		q := url.Values{"productId": {productID}, "quantity": {strconv.Itoa(quantity)},
			"unitPrice": {strconv.FormatFloat(unitPrice, 'f', -1, 64)}, "currency": {currency}}
		return sc.RemoveProductItemFromShoppingCart{ShoppingCartID: id, Now: time.Now().UTC(),
				ProductItem: sc.PricedProductItem{ProductID: productID, Quantity: quantity, UnitPrice: sc.Money{Amount: unitPrice, Currency: currency}}},
			pending{Method: http.MethodDelete, Path: fmt.Sprintf(current, url.PathEscape(st.ClientID)) + "/product-items?" + q.Encode()}, nil
	})
}

func (l *local) confirm(ctx context.Context) error {
	return l.handle(ctx, whatConfirm, func(id string, st syncState) (sc.Command, pending, error) {
		return sc.ConfirmShoppingCart{ShoppingCartID: id, Now: time.Now().UTC()},
			pending{Method: http.MethodPost, Path: fmt.Sprintf(current, url.PathEscape(st.ClientID)) + "/confirm"}, nil
	})
}

// view is what the page shows.
type view struct {
	ClientID     string                  `json:"clientId"`
	Cart         *sc.ShoppingCartDetails `json:"cart"`
	Events       []localEvent            `json:"events"`
	Pending      []pending               `json:"pending"`
	Conflicts    []string                `json:"conflicts"`
	ServerEvents []serverEvent           `json:"serverEvents"`
	ServerStream string                  `json:"serverStream"`
	Version      int64                   `json:"serverVersion"`
	Online       bool                    `json:"online"`
}

type localEvent struct {
	Stream   string          `json:"stream"`
	Position int64           `json:"position"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
}

func (l *local) view(ctx context.Context) (view, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.state(ctx)
	if err != nil {
		return view{}, err
	}
	v := view{ClientID: st.ClientID, Conflicts: st.Conflicts, ServerEvents: st.ServerEvents,
		ServerStream: st.ServerStream, Version: st.ServerVersion, Online: l.online, Events: []localEvent{}}
	if d, ok, err := l.details.Get(ctx, sc.StreamName(l.cartID(st))); err != nil {
		return v, err
	} else if ok {
		v.Cart = &d
	} else if st.Cart > 1 {
		// The last cart was closed: show it until the next add.
		if d, ok, err := l.details.Get(ctx, sc.StreamName(sc.CartID("web-"+st.ClientID, st.Cart-1))); err == nil && ok {
			v.Cart = &d
		}
	}
	for e, err := range l.store.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			return v, err
		}
		v.Events = append(v.Events, localEvent{Stream: e.StreamName, Position: e.StreamPosition, Type: e.Type, Data: e.Data})
	}
	if v.Pending, err = l.outbox.Find(ctx); err != nil {
		return v, err
	}
	if v.Pending == nil {
		v.Pending = []pending{}
	}
	return v, nil
}

// errOffline is a request that did not reach the server.
var errOffline = errors.New("web: offline")

// sync sends the queued commands to the server, oldest first, each with
// If-Match: the version of the server's cart it was made on. A refused
// precondition (412) is a conflict: the server's cart changed meanwhile,
// from elsewhere; the command is dropped and the conflict shown.
func (l *local) sync(ctx context.Context, base string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	queued, err := l.outbox.Find(ctx)
	if err != nil || len(queued) == 0 {
		return err
	}
	st, err := l.state(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if perr := l.persist(ctx); err == nil {
			err = perr
		}
	}()
	for _, p := range queued {
		req, err := http.NewRequestWithContext(ctx, p.Method, base+p.Path, strings.NewReader(p.Body))
		if err != nil {
			return err
		}
		if p.Body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("If-Match", strconv.Quote(strconv.FormatInt(p.Expected, 10)))
		req.Header.Set("Idempotency-Key", p.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			l.online = false
			return fmt.Errorf("%w: %v", errOffline, err)
		}
		l.online = true
		var problem struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300 && p.What == whatConfirm:
			st.ServerVersion = 0 // the next command opens a new cart
		case resp.StatusCode < 300:
			if v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(resp.Header.Get("ETag"), "W/"), `"`), 10, 64); err == nil {
				st.ServerVersion = v
			}
		case resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusConflict:
			_ = json.Unmarshal(buf.Bytes(), &problem)
			st.Conflicts = append(st.Conflicts, fmt.Sprintf("conflict: %q made on version %d of the server's cart was refused (%s)", p.What, p.Expected, problem.Detail))
			// The commands queued after it were made on it: they are
			// sent on the server's version as it is now.
			if v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(resp.Header.Get("ETag"), "W/"), `"`), 10, 64); err == nil {
				st.ServerVersion = v
			}
		case resp.StatusCode >= 500:
			return fmt.Errorf("web: the server answered %s", resp.Status)
		default:
			_ = json.Unmarshal(buf.Bytes(), &problem)
			st.Conflicts = append(st.Conflicts, fmt.Sprintf("refused: %q: %s %s", p.What, problem.Title, problem.Detail))
		}
		if err := l.outbox.Delete(ctx, fmt.Sprintf("%012d", p.Seq)); err != nil {
			return err
		}
		if err := l.meta.Put(ctx, "state", st); err != nil {
			return err
		}
	}
	return nil
}

// serverEvent records an event of the SSE feed: the client's cart on the
// server, its version (the If-Match of the next commands).
func (l *local) serverEvent(ctx context.Context, raw []byte) error {
	var e struct {
		serverEvent
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.state(ctx)
	if err != nil {
		return err
	}
	var owner struct {
		ClientID string `json:"clientId"`
	}
	_ = json.Unmarshal(e.Data, &owner)
	switch {
	case e.Stream == st.ServerStream:
	case owner.ClientID == st.ClientID && e.Stream != "":
		st.ServerStream = e.Stream // a new cart of this client on the server
	default:
		return nil
	}
	for _, seen := range st.ServerEvents {
		if seen.Stream == e.Stream && seen.Position == e.Position {
			return nil
		}
	}
	st.ServerEvents = append(st.ServerEvents, e.serverEvent)
	if len(queuedOrNil(ctx, l)) == 0 {
		// Nothing made here waits for the server: what it has is the
		// version the next command is made on.
		st.ServerVersion = e.Position
		if e.Type == "ShoppingCartConfirmed" || e.Type == "ShoppingCartCancelled" {
			st.ServerVersion = 0
		}
	}
	if err := l.meta.Put(ctx, "state", st); err != nil {
		return err
	}
	return l.persist(ctx)
}

func queuedOrNil(ctx context.Context, l *local) []pending {
	q, _ := l.outbox.Find(ctx)
	return q
}
