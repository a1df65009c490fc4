package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/httpapi"
	"github.com/emmett-go/emmett/internal/testdomain"
)

// show prints a response: its status, the given headers and its body.
func show(resp *http.Response, headers ...string) {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	for _, h := range headers {
		if v := resp.Header.Get(h); v != "" {
			fmt.Printf("%s: %s\n", h, v)
		}
	}
	if len(body) > 0 {
		fmt.Print(string(body))
	}
}

func do(h http.Handler, method, target, body string, headers ...string) *http.Response {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// A command endpoint for a cart: the request becomes a command on
// the cart's stream, the response carries the stream's new version as its
// ETag, and a client that sends back a stale one gets 412.
func ExampleCommand() {
	store := memory.New()
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events())

	type addItem struct {
		ProductID string  `json:"productId"`
		Quantity  int     `json:"quantity"`
		UnitPrice float64 `json:"unitPrice"`
	}
	mux := http.NewServeMux()
	mux.Handle("POST /clients/{clientId}/carts/{cartId}/items", httpapi.Command(carts,
		func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
			var body addItem
			if err := httpapi.DecodeJSON(r, &body); err != nil {
				return httpapi.CommandRequest[testdomain.Command]{}, err
			}
			cartID := r.PathValue("cartId")
			return httpapi.CommandRequest[testdomain.Command]{
				Stream: testdomain.StreamName(cartID),
				Command: testdomain.AddItem{
					CartID:   cartID,
					ClientID: r.PathValue("clientId"),
					Item:     testdomain.Item(body),
					Now:      time.Now(),
				},
			}, nil
		}))

	const item = `{"productId":"shoes","quantity":2,"unitPrice":100}`
	show(do(mux, "POST", "/clients/ann/carts/1/items", item), "ETag")
	show(do(mux, "POST", "/clients/ann/carts/1/items", item, "If-Match", `W/"1"`), "ETag")
	show(do(mux, "POST", "/clients/ann/carts/1/items", item, "If-Match", `W/"1"`), "Content-Type")
	show(do(mux, "POST", "/clients/ann/carts/1/items", `{"productId":"shoes","quantity":"two"}`))
	// Output:
	// 201 Created
	// ETag: W/"1"
	// {"nextExpectedVersion":1,"position":"1"}
	// 200 OK
	// ETag: W/"2"
	// {"nextExpectedVersion":2,"position":"2"}
	// 412 Precondition Failed
	// Content-Type: application/problem+json
	// {"type":"about:blank","title":"Precondition Failed","status":412,"detail":"the stream is at version 2, the request expected 1","instance":"/clients/ann/carts/1/items","actualVersion":2,"expectedVersion":1}
	// 400 Bad Request
	// {"type":"about:blank","title":"Bad Request","status":400,"detail":"request body, field \"quantity\": got a JSON string, want an integer","instance":"/clients/ann/carts/1/items","in":"body","name":"quantity"}
}

// A command endpoint whose response is the application's own: here the
// number of lines in the cart, read from the new state.
func ExampleRespondWith() {
	store := memory.New()
	carts := command.NewDeciderHandler(store, testdomain.Decider(), testdomain.Events())
	h := httpapi.Command(carts,
		func(r *http.Request) (httpapi.CommandRequest[testdomain.Command], error) {
			return httpapi.CommandRequest[testdomain.Command]{
				Stream: testdomain.StreamName("1"),
				Command: testdomain.AddItem{CartID: "1", ClientID: "ann", Now: time.Now(),
					Item: testdomain.Item{ProductID: r.URL.Query().Get("product"), Quantity: 1, UnitPrice: 5}},
			}, nil
		},
		httpapi.RespondWith(func(w http.ResponseWriter, r *http.Request, res command.Result[testdomain.Cart, testdomain.Event]) error {
			w.Header().Set("Location", "/carts/1")
			return httpapi.WriteJSON(w, http.StatusOK, map[string]int{"lines": len(res.State.Quantities)})
		}))
	do(h, "POST", "/?product=shoes", "")
	show(do(h, "POST", "/?product=socks", ""), "ETag", "Location")
	// Output:
	// 200 OK
	// ETag: W/"2"
	// Location: /carts/1
	// {"lines":2}
}

// Errors of the application's own get their own status with an
// ErrorMapper; errors the mapping does not know are answered 500 without
// their message, which is logged instead.
func ExampleProblems() {
	errOutOfStock := errors.New("out of stock")
	problems := &httpapi.Problems{Mappers: []httpapi.ErrorMapper{
		httpapi.MapError(errOutOfStock, http.StatusConflict),
	}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problems.WriteError(w, r, fmt.Errorf("reserving shoes: %w", errOutOfStock))
	})
	show(do(h, "POST", "/orders", ""))
	// Output:
	// 409 Conflict
	// {"type":"about:blank","title":"Conflict","status":409,"detail":"reserving shoes: out of stock","instance":"/orders"}
}

func ExamplePrecondition() {
	for _, h := range [][2]string{{"If-Match", `W/"3"`}, {"If-Match", "*"}, {"If-None-Match", "*"}, {"If-Match", "3"}} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set(h[0], h[1])
		ev, err := httpapi.Precondition(r)
		fmt.Printf("%s: %s -> %v %v\n", h[0], h[1], ev, err)
	}
	fmt.Println(httpapi.ETag(4))
	// Output:
	// If-Match: W/"3" -> 3 <nil>
	// If-Match: * -> stream_exists <nil>
	// If-None-Match: * -> no_stream <nil>
	// If-Match: 3 -> any httpapi: invalid header If-Match "3": not an entity tag: want W/"<version>" or "<version>"
	// W/"4"
}

func ExampleDecodeJSON() {
	type body struct {
		Name string `json:"name"`
	}
	for _, in := range []string{`{"name":"ann"}`, `{"name":"ann","admin":true}`, `{"name":"ann"}{"name":"bob"}`} {
		var b body
		err := httpapi.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(in)), &b)
		fmt.Printf("%+v %v\n", b, err)
	}
	// Output:
	// {Name:ann} <nil>
	// {Name:ann} httpapi: invalid request body, field "admin": unknown field
	// {Name:ann} httpapi: invalid request body: unexpected data after the JSON value
}

// The event streaming endpoints, mounted under /events: a page of a stream,
// then a page of the global log.
func ExampleStreams() {
	store := memory.New()
	ctx := context.Background()
	store.AppendToStream(ctx, "cart-1", []eventstore.EventData{
		{Type: "ItemAdded", Data: []byte(`{"sku":"shoes"}`)},
		{Type: "ItemAdded", Data: []byte(`{"sku":"socks"}`)},
	})
	store.AppendToStream(ctx, "order-1", []eventstore.EventData{{Type: "OrderPlaced", Data: []byte(`{}`)}})

	mux := http.NewServeMux()
	mux.Handle("/events/", http.StripPrefix("/events", httpapi.NewStreams(store)))

	var page httpapi.StreamPage
	resp := do(mux, "GET", "/events/streams/cart-1?limit=1", "")
	json.NewDecoder(resp.Body).Decode(&page)
	fmt.Println(resp.Status, resp.Header.Get("ETag"), resp.Header.Get("Link"))
	for _, e := range page.Events {
		fmt.Println(e.StreamName, e.StreamPosition, e.Type, string(e.Data))
	}

	var all httpapi.LogPage
	json.NewDecoder(do(mux, "GET", "/events/all?after=1", "").Body).Decode(&all)
	for _, e := range all.Events {
		fmt.Println(e.Position, e.StreamName, e.Type)
	}
	fmt.Printf("next after %s, more: %t\n", all.NextAfter, all.Next != "")
	// Output:
	// 200 OK W/"2" </events/streams/cart-1?from=2&limit=1>; rel="next"
	// cart-1 1 ItemAdded {"sku":"shoes"}
	// 2 cart-1 ItemAdded
	// 3 order-1 OrderPlaced
	// next after 3, more: false
}

// A client following a category live, as Server-Sent Events, over a real
// server. Each event's id is where to resume: a client that reconnects sends
// the last one in Last-Event-ID.
func ExampleStreams_live() {
	store := memory.New()
	streams := httpapi.NewStreams(store, httpapi.WithSource(store.Source()))
	srv := httptest.NewServer(streams)
	defer srv.Close()
	defer streams.Close() // what server.RegisterOnShutdown(streams.Close) does

	ctx := context.Background()
	store.AppendToStream(ctx, "cart-1", []eventstore.EventData{{Type: "ItemAdded", Data: []byte(`{"sku":"shoes"}`)}})
	store.AppendToStream(ctx, "order-1", []eventstore.EventData{{Type: "OrderPlaced", Data: []byte(`{}`)}})

	req, _ := http.NewRequest("GET", srv.URL+"/categories/cart/live", nil)
	req.Header.Set("Last-Event-ID", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))

	go store.AppendToStream(ctx, "cart-2", []eventstore.EventData{{Type: "ItemAdded", Data: []byte(`{"sku":"socks"}`)}})
	lines := bufio.NewScanner(resp.Body)
	for events := 0; events < 2 && lines.Scan(); {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			fmt.Println(line)
		case strings.HasPrefix(line, "data: "):
			var e eventstore.JSONEvent
			json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e)
			fmt.Println(e.StreamName, e.Type, string(e.Data))
			events++
		}
	}
	// Output:
	// text/event-stream
	// id: 1
	// cart-1 ItemAdded {"sku":"shoes"}
	// id: 3
	// cart-2 ItemAdded {"sku":"socks"}
}

// Appending over HTTP is off unless the application turns it on, and the
// Authorizer decides on every request.
func ExampleAllowAppend() {
	store := memory.New()
	streams := httpapi.NewStreams(store,
		httpapi.AllowAppend(),
		httpapi.WithAuthorizer(func(r *http.Request, a httpapi.Action) error {
			if a.Op == httpapi.OpAppend && r.Header.Get("Authorization") != "Bearer writer" {
				return errors.New("writers only")
			}
			return nil
		}))
	const events = `[{"type":"PaymentReceived","data":{"amount":100}}]`
	show(do(streams, "POST", "/streams/payment-1", events, "If-None-Match", "*"))
	resp := do(streams, "POST", "/streams/payment-1", events, "If-None-Match", "*", "Authorization", "Bearer writer")
	var res httpapi.AppendResponse
	json.NewDecoder(resp.Body).Decode(&res)
	fmt.Println(resp.Status, resp.Header.Get("ETag"), res.NextExpectedVersion, res.Events[0].Type)
	// Output:
	// 403 Forbidden
	// {"type":"about:blank","title":"Forbidden","status":403,"detail":"not allowed to append to stream \"payment-1\"","instance":"/streams/payment-1"}
	// 201 Created W/"1" 1 PaymentReceived
}
