package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneOpenCartPerClient sends 32 first adds of a client at once,
// released together, to the app over real HTTP on each store, for one
// client after another: every client must end with exactly one cart, holding every item
// it was told was added (200 or 201) and no other. An add that is not
// acknowledged lost its race more often than the retries make up for
// (409) and stores nothing.
func TestOneOpenCartPerClient(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		bk, err := openBackend(context.Background(), slog.Default(), filepath.Join(t.TempDir(), "carts.db"), "")
		require.NoError(t, err)
		concurrentFirstAdds(t, bk)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		bk, err := openBackend(context.Background(), slog.Default(), "", pgtest.NewDatabase(t))
		require.NoError(t, err)
		concurrentFirstAdds(t, bk)
	})
}

func concurrentFirstAdds(t *testing.T, bk *backend) {
	const clients, addsPerClient = 10, 32
	t.Cleanup(func() { _ = bk.close() })
	app := &sc.App{Store: bk.store, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(serveApp(app.Handler(), app.Logger))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: addsPerClient}}
	t.Cleanup(client.CloseIdleConnections)

	type outcome struct {
		quantity, status int
		body             string
	}
	outcomes := make([][]outcome, clients)
	for c := range outcomes {
		outcomes[c] = make([]outcome, addsPerClient)
	}
	clientID := func(c int) string { return fmt.Sprintf("client-%02d", c) }
	// One client at a time, its adds released together: each first add
	// races the others of its client, not a queue of other clients'.
	for c := range clients {
		start := make(chan struct{})
		var ready, done sync.WaitGroup
		for i := range addsPerClient {
			ready.Add(1)
			done.Go(func() {
				quantity := i + 1 // each add of a client has its own quantity
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/clients/"+clientID(c)+"/shopping-carts/current/product-items",
					strings.NewReader(fmt.Sprintf(`{"productId":"socks","quantity":%d}`, quantity)))
				ready.Done()
				if !assert.NoError(t, err) {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				<-start
				res, err := client.Do(req)
				if !assert.NoError(t, err) {
					return
				}
				body, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				outcomes[c][i] = outcome{quantity: quantity, status: res.StatusCode, body: string(body)}
			})
		}
		ready.Wait()
		close(start)
		done.Wait()
	}

	ctx := context.Background()
	details := sc.CartDetailsProjection().Collection(bk.store.Documents())
	conflicts := 0
	for c := range clients {
		var acked []int
		sum := 0
		for _, o := range outcomes[c] {
			switch o.status {
			case http.StatusOK, http.StatusCreated:
				acked = append(acked, o.quantity)
				sum += o.quantity
			case http.StatusConflict:
				conflicts++
			default:
				t.Errorf("%s: an add answered %d: %s", clientID(c), o.status, o.body)
			}
		}
		require.NotEmpty(t, acked, "%s: some adds are acknowledged", clientID(c))

		carts, err := details.Find(ctx, projection.Eq("clientId", clientID(c)))
		require.NoError(t, err)
		var ids []string
		for _, cart := range carts {
			ids = append(ids, cart.ID)
		}
		if !assert.Len(t, carts, 1, "%s has exactly one cart: %v", clientID(c), ids) {
			continue
		}
		cart := carts[0]
		assert.Equal(t, sc.StatusOpened, cart.Status)
		assert.Equal(t, sum, cart.ProductItemsCount, "%s: the cart holds every acknowledged item", clientID(c))

		var stored []int
		for rec, err := range bk.store.ReadStream(ctx, sc.StreamName(cart.ID)) {
			require.NoError(t, err)
			e, err := sc.Events().DecodeRecorded(rec)
			require.NoError(t, err)
			stored = append(stored, e.Event.(sc.ProductItemAddedToShoppingCart).ProductItem.Quantity)
		}
		slices.Sort(acked)
		slices.Sort(stored)
		assert.Equal(t, acked, stored, "%s: its cart's stream holds the acknowledged adds, each once, and nothing else", clientID(c))

		res, err := client.Get(srv.URL + "/clients/" + clientID(c) + "/shopping-carts/current")
		require.NoError(t, err)
		var current sc.ShoppingCartDetails
		require.NoError(t, json.NewDecoder(res.Body).Decode(&current))
		_ = res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, cart.ID, current.ID, "%s: the cart it sees is the one that holds its items", clientID(c))
		assert.Equal(t, sum, current.ProductItemsCount)
	}
	t.Logf("%d clients × %d concurrent first adds: %d answered 409", clients, addsPerClient, conflicts)
}

// TestInstancesShareClients runs two instances of the app (two handlers,
// each with its own state caches) on one store, and moves a client from
// one to the other: what one instance has cached is behind what the other
// did, and each add must still land in the client's one open cart.
func TestInstancesShareClients(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		bk, err := openBackend(context.Background(), slog.Default(), filepath.Join(t.TempDir(), "carts.db"), "")
		require.NoError(t, err)
		instancesShareClients(t, bk)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		bk, err := openBackend(context.Background(), slog.Default(), "", pgtest.NewDatabase(t))
		require.NoError(t, err)
		instancesShareClients(t, bk)
	})
}

func instancesShareClients(t *testing.T, bk *backend) {
	t.Cleanup(func() { _ = bk.close() })
	var instances [2]*httptest.Server
	for i := range instances {
		app := &sc.App{Store: bk.store, Logger: slog.New(slog.DiscardHandler)}
		instances[i] = httptest.NewServer(serveApp(app.Handler(), app.Logger))
		t.Cleanup(instances[i].Close)
	}
	a, b := instances[0].URL, instances[1].URL
	const cart = "/clients/ann/shopping-carts/current"
	send := func(method, url, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode
	}
	add := func(url string, quantity int) int {
		return send(http.MethodPost, url+cart+"/product-items", fmt.Sprintf(`{"productId":"socks","quantity":%d}`, quantity))
	}

	require.Equal(t, http.StatusCreated, add(a, 1)) // a opens ann:1, and caches it
	require.Equal(t, http.StatusOK, add(a, 2))      // a adds to its cached cart
	require.Equal(t, http.StatusOK, send(http.MethodPost, b+cart+"/confirm", ""))
	require.Equal(t, http.StatusCreated, add(b, 4)) // b opens ann:2
	require.Equal(t, http.StatusOK, add(a, 8))      // a's cache names ann:1, closed
	require.Equal(t, http.StatusOK, add(b, 16))     // b's cache names ann:2, current
	require.Equal(t, http.StatusOK, send(http.MethodDelete, a+cart+"/product-items?productId=socks&quantity=4&unitPrice=3.5", ""))
	// Two carts closed on b, one after the other: a's cache names the
	// first of them.
	require.Equal(t, http.StatusOK, send(http.MethodPost, b+cart+"/confirm", ""))
	require.Equal(t, http.StatusCreated, add(b, 32)) // b opens ann:3
	require.Equal(t, http.StatusOK, send(http.MethodDelete, b+cart, ""))
	require.Equal(t, http.StatusCreated, add(a, 64)) // a opens ann:4

	ctx := context.Background()
	carts, err := sc.CartDetailsProjection().Collection(bk.store.Documents()).Find(ctx, projection.Eq("clientId", "ann"))
	require.NoError(t, err)
	byID := map[string]sc.ShoppingCartDetails{}
	for _, c := range carts {
		byID[c.ID] = c
	}
	require.Len(t, byID, 4, "ann has four carts: %v", byID)
	assert.Equal(t, sc.StatusConfirmed, byID["ann:1"].Status)
	assert.Equal(t, 3, byID["ann:1"].ProductItemsCount, "the confirmed cart holds the adds made before it was confirmed")
	assert.Equal(t, sc.StatusConfirmed, byID["ann:2"].Status)
	assert.Equal(t, 8+16, byID["ann:2"].ProductItemsCount, "every add after the first was confirmed, on either instance, went to the next cart")
	assert.Equal(t, sc.StatusCancelled, byID["ann:3"].Status)
	assert.Equal(t, sc.StatusOpened, byID["ann:4"].Status)
	assert.Equal(t, 64, byID["ann:4"].ProductItemsCount, "the add on the instance two carts behind went to a new cart")
	var opened int
	for _, err := range bk.store.ReadStream(ctx, sc.ClientStreamName("ann")) {
		require.NoError(t, err)
		opened++
	}
	assert.Equal(t, 4, opened, "the client's stream opened four carts")
}
