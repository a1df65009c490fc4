package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// The load benchmark drives the app over real HTTP with concurrent clients
// adding product items to their carts, and measures commands per second
// and latency percentiles. Beside it, in the same run, a raw handler on the
// same HTTP stack decodes the same body and writes the same event row and
// stream row straight into the same database: the floor the app is
// compared to.
//
//	go test -run '^$' -bench Load -benchtime 10s ./examples/shoppingcart/cmd/shoppingcart/

const loadClients = 8

type loadStats struct {
	commands  int
	elapsed   time.Duration
	latencies []time.Duration
}

func (s loadStats) perSecond() float64 { return float64(s.commands) / s.elapsed.Seconds() }

func (s loadStats) percentile(p float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	return s.latencies[int(float64(len(s.latencies)-1)*p)]
}

// drive sends requests from loadClients goroutines until n requests in all
// have been answered, and returns the figures.
func drive(b *testing.B, url string, n int) loadStats {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	per := max(n/loadClients, 1)
	for c := range loadClients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, per)
			clientID := fmt.Sprintf("client-%d-%s", c, uuid.NewString()[:8])
			target := url + "/clients/" + clientID + "/shopping-carts/current/product-items"
			for range per {
				body := []byte(`{"productId":"socks","quantity":1}`)
				t0 := time.Now()
				res, err := client.Post(target, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				// Read to the end, so that the connection is kept alive
				// and serves the next request.
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode >= 300 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	return loadStats{commands: len(all), elapsed: elapsed, latencies: all}
}

func report(b *testing.B, app, raw loadStats) {
	b.ReportMetric(app.perSecond(), "cmds/s")
	b.ReportMetric(float64(app.percentile(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(app.percentile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(raw.perSecond(), "raw-cmds/s")
	b.ReportMetric(app.perSecond()/raw.perSecond(), "ratio")
	b.Logf("%d clients: app %.0f cmds/s p50 %v p99 %v | raw %.0f cmds/s p50 %v p99 %v | ratio %.2f",
		loadClients, app.perSecond(), app.percentile(0.5), app.percentile(0.99),
		raw.perSecond(), raw.percentile(0.5), raw.percentile(0.99), app.perSecond()/raw.perSecond())
}

// appServer starts the app's handler over a backend, with its processor.
func appServer(b *testing.B, bk *backend) *httptest.Server {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := sc.ClientSummaryProjection()
	source, err := bk.summarySource(ctx, projection.VersionedName(p.Name(), p.Version()))
	require.NoError(b, err)
	summary := projection.NewProjectionProcessor(bk.cps, source, p)
	done := make(chan struct{})
	go func() { defer close(done); _ = summary.Run(ctx) }()
	srv := httptest.NewServer((&sc.App{Store: bk.store, Summary: summary}).Handler())
	b.Cleanup(func() { srv.Close(); cancel(); <-done; _ = bk.close() })
	return srv
}

type addBody struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

// rawHandler is the floor: decode the body, write one event row and the
// stream row in a transaction, answer 201.
func rawHandler(write func(ctx context.Context, clientID string, data []byte) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /clients/{clientId}/shopping-carts/current/product-items", func(w http.ResponseWriter, r *http.Request) {
		var body addBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, _ := json.Marshal(sc.ProductItemAddedToShoppingCart{ShoppingCartID: r.PathValue("clientId"), ClientID: r.PathValue("clientId"),
			ProductItem: sc.PricedProductItem{ProductID: body.ProductID, Quantity: body.Quantity, UnitPrice: sc.EUR(3.5)}, AddedAt: time.Now()})
		if err := write(r.Context(), r.PathValue("clientId"), data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"nextExpectedVersion":1}`))
	})
	return mux
}

func sqliteRawWriter(b *testing.B, path string) func(ctx context.Context, clientID string, data []byte) error {
	// The store creates the schema; the raw writer then uses it directly.
	bk, err := openBackend(context.Background(), slog.Default(), path, "")
	require.NoError(b, err)
	require.NoError(b, bk.close())
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	require.NoError(b, err)
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	var mu sync.Mutex
	versions := map[string]int64{}
	return func(ctx context.Context, clientID string, data []byte) error {
		mu.Lock()
		versions[clientID]++
		v := versions[clientID]
		mu.Unlock()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		stream := "shopping_cart-" + clientID
		if _, err := tx.ExecContext(ctx, `INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
VALUES (?, ?, 'emt:default', 'shopping_cart', '{}', 0)
ON CONFLICT (stream_id, partition, is_archived) DO UPDATE SET stream_position = excluded.stream_position`, stream, v); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO emt_messages (stream_id, stream_position, partition, message_id, message_type, message_data, message_metadata, created, message_kind, message_schema_version, is_archived)
VALUES (?, ?, 'emt:default', ?, 'ProductItemAddedToShoppingCart', ?, '{}', ?, 'E', '1', 0)`, stream, v, uuid.NewString(), string(data), time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		return tx.Commit()
	}
}

func BenchmarkLoadSQLite(b *testing.B) {
	const perRound = 400
	var app, raw loadStats
	bk, err := openBackend(context.Background(), slog.Default(), filepath.Join(b.TempDir(), "app.db"), "")
	require.NoError(b, err)
	appSrv := appServer(b, bk)
	rawSrv := httptest.NewServer(rawHandler(sqliteRawWriter(b, filepath.Join(b.TempDir(), "raw.db"))))
	b.Cleanup(rawSrv.Close)
	for b.Loop() { // alternate, so that both see the same machine load
		merge(&app, drive(b, appSrv.URL, perRound))
		merge(&raw, drive(b, rawSrv.URL, perRound))
	}
	report(b, app, raw)
}

func merge(into *loadStats, s loadStats) {
	into.commands += s.commands
	into.elapsed += s.elapsed
	into.latencies = append(into.latencies, s.latencies...)
	slices.Sort(into.latencies)
}

func postgresRawWriter(b *testing.B, url string) func(ctx context.Context, clientID string, data []byte) error {
	// The store creates the schema; the raw writer then uses it directly.
	bk, err := openBackend(context.Background(), slog.Default(), "", url)
	require.NoError(b, err)
	require.NoError(b, bk.close())
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	var mu sync.Mutex
	versions := map[string]int64{}
	return func(ctx context.Context, clientID string, data []byte) error {
		mu.Lock()
		versions[clientID]++
		v := versions[clientID]
		mu.Unlock()
		stream := "shopping_cart-" + clientID
		batch := &pgx.Batch{}
		batch.Queue(`INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
VALUES ($1, $2, 'emt:default', 'shopping_cart', '{}', false)
ON CONFLICT (stream_id, partition, is_archived) DO UPDATE SET stream_position = excluded.stream_position`, stream, v)
		batch.Queue(`INSERT INTO emt_messages (stream_id, stream_position, partition, message_id, message_type, message_data, message_metadata, transaction_id, message_kind, message_schema_version, is_archived)
VALUES ($1, $2, 'emt:default', $3, 'ProductItemAddedToShoppingCart', $4, '{}', pg_current_xact_id(), 'E', '1', false)`, stream, v, uuid.NewString(), data)
		return pool.SendBatch(ctx, batch).Close()
	}
}

func BenchmarkLoadPostgres(b *testing.B) {
	const perRound = 400
	var app, raw loadStats
	bk, err := openBackend(context.Background(), slog.Default(), "", pgtest.NewDatabase(b))
	require.NoError(b, err)
	appSrv := appServer(b, bk)
	rawSrv := httptest.NewServer(rawHandler(postgresRawWriter(b, pgtest.NewDatabase(b))))
	b.Cleanup(rawSrv.Close)
	for b.Loop() {
		merge(&app, drive(b, appSrv.URL, perRound))
		merge(&raw, drive(b, rawSrv.URL, perRound))
	}
	report(b, app, raw)
}
