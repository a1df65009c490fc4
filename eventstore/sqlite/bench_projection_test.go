package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// BenchmarkProjectorCatchUp times a projector catching up on a backlog of
// 100,000 shopping-cart events into SQLite documents (the cart details
// read model), against raw database/sql doing the equivalent database work
// in the same run:
//
//	go test -run '^$' -bench ProjectorCatchUp -benchtime 3x ./eventstore/sqlite/
//
// The backlog is 20,000 carts of 5 events (3 product items added, one
// removed, then confirmed or cancelled), their events interleaved 100
// carts at a time, one event per append, so that a batch touches many
// carts. Store: a projector (projection.NewProjector on the store's
// Source, with a fresh processor id each time) runs from the start of the
// log until it has processed the last event: it reads the log in batches,
// decodes the events, reads each document a batch touches, evolves it,
// writes it, and moves its checkpoint, one transaction per batch. Raw: the
// same batches read with the store's SELECT, then in one transaction per
// batch, for each cart the batch touches, a SELECT of its document and an
// upsert of a representative cart document (~400 bytes of JSON, encoded
// once), and an UPDATE of a checkpoint row. Both run on the same database
// file, with the same settings, alternating which goes first.
func BenchmarkProjectorCatchUp(b *testing.B) {
	ctx := context.Background()
	path := benchPath(b)
	const carts, perCart, wave = 20_000, 5, 100
	total := buildCartBacklog(b, path, carts, wave)
	require.Equal(b, int64(carts*perCart), total)

	runs := 0 // processor ids are never reused: the testing package may call a benchmark again
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
			require.NoError(b, err)
			defer s.Close()
			raw := newRawProjector(b, path, batch)
			details := sc.CartDetailsProjection()
			head, err := s.Head(ctx)
			require.NoError(b, err)

			runStore := func() time.Duration {
				require.NoError(b, s.Documents().DeleteAll(ctx, sc.CartDetailsName))
				runs++
				p := projection.NewProjector(s, s.Source(projection.PollingOptions{BatchSize: batch}), details,
					projection.WithProcessorID(fmt.Sprintf("bench-%d", runs)))
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				t0 := time.Now()
				go func() { done <- p.Run(runCtx) }()
				if err := p.WaitFor(ctx, head); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(t0)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				return elapsed
			}
			var rawTime, storeTime time.Duration
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					rawTime += raw.run(b)
					storeTime += runStore()
				} else {
					storeTime += runStore()
					rawTime += raw.run(b)
				}
				i++
			}
			if i == 0 {
				return
			}
			n, err := s.Documents().Count(ctx, sc.CartDetailsName, projection.Query{})
			require.NoError(b, err)
			require.Equal(b, int64(carts), n, "every cart has its document")

			perSec := func(d time.Duration) float64 { return float64(total) * float64(i) / d.Seconds() }
			rawRate, storeRate := perSec(rawTime), perSec(storeTime)
			b.ReportMetric(rawRate, "raw-events/s")
			b.ReportMetric(storeRate, "store-events/s")
			b.ReportMetric(storeRate/rawRate, "ratio")
			b.Logf("batch %d: store %.0f events/s, raw %.0f events/s, ratio %.2f (store throughput / raw throughput)", batch, storeRate, rawRate, storeRate/rawRate)
		})
	}
}

// buildCartBacklog appends the carts' events, a wave of carts at a time,
// their events interleaved, and returns the number of events.
func buildCartBacklog(b *testing.B, path string, carts, wave int) int64 {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncOff))
	require.NoError(b, err)
	defer s.Close()
	events := sc.Events()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for first := 0; first < carts; first += wave {
		for step := range 5 {
			for c := first; c < min(first+wave, carts); c++ {
				id := fmt.Sprintf("cart-%05d", c)
				client := fmt.Sprintf("client-%04d", c%1000)
				item := sc.PricedProductItem{ProductID: fmt.Sprintf("p-%d", (c+step)%3), Quantity: 1 + step, UnitPrice: 9.99}
				var ev sc.Event
				switch step {
				case 0, 1, 2:
					ev = sc.ProductItemAddedToShoppingCart{ShoppingCartID: id, ClientID: client, ProductItem: item, AddedAt: at}
				case 3:
					item.ProductID, item.Quantity = fmt.Sprintf("p-%d", c%3), 1
					ev = sc.ProductItemRemovedFromShoppingCart{ShoppingCartID: id, ClientID: client, ProductItem: item, RemovedAt: at}
				default:
					if c%4 == 0 {
						ev = sc.ShoppingCartCancelled{ShoppingCartID: id, ClientID: client, CancelledAt: at}
					} else {
						ev = sc.ShoppingCartConfirmed{ShoppingCartID: id, ClientID: client, ConfirmedAt: at}
					}
				}
				data, err := eventstore.Encode(events, []sc.Event{ev}, emmett.Metadata{})
				require.NoError(b, err)
				_, err = s.AppendToStream(ctx, sc.StreamName(id), data)
				require.NoError(b, err)
			}
		}
	}
	head, err := s.Head(ctx)
	require.NoError(b, err)
	// The document table, created by the store so that raw writes the
	// same layout.
	require.NoError(b, s.Documents().Put(ctx, "raw_cart_details", "x", []byte(`{}`)))
	return head.GlobalPosition
}

// rawProjector is the raw database/sql equivalent of the projector.
type rawProjector struct {
	db                        *sql.DB
	batch                     int
	read, get, put, move, del *sql.Stmt
	doc                       string
}

func newRawProjector(b *testing.B, path string, batch int) *rawProjector {
	db := rawDB(b, path, sqlite.SyncNormal)
	prep := func(q string) *sql.Stmt {
		st, err := db.Prepare(q)
		require.NoError(b, err)
		return st
	}
	_, err := db.Exec(`INSERT INTO emt_processors (processor_id, last_processed_checkpoint) VALUES ('raw-bench', '') ON CONFLICT DO NOTHING`)
	require.NoError(b, err)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	doc, err := json.Marshal(sc.ShoppingCartDetails{ID: "cart-00042", ClientID: "client-0042", Status: sc.StatusConfirmed, OpenedAt: at, ConfirmedAt: &at,
		ProductItems:      []sc.PricedProductItem{{ProductID: "p-0", Quantity: 2, UnitPrice: 9.99}, {ProductID: "p-1", Quantity: 3, UnitPrice: 9.99}, {ProductID: "p-2", Quantity: 3, UnitPrice: 9.99}},
		ProductItemsCount: 8, TotalAmount: 79.92})
	require.NoError(b, err)
	return &rawProjector{
		db: db, batch: batch, doc: string(doc),
		read: prep(`SELECT stream_position, global_position, message_id, message_type, message_data, message_metadata, created, stream_id FROM emt_messages
WHERE global_position > ? AND is_archived = 0 ORDER BY global_position LIMIT ?`),
		get: prep(`SELECT data FROM raw_cart_details WHERE _id = ?`),
		put: prep(`INSERT INTO raw_cart_details (_id, data) VALUES (?1, ?2)
ON CONFLICT (_id) DO UPDATE SET data = excluded.data, _version = _version + 1, _updated = datetime('now')`),
		move: prep(`UPDATE emt_processors SET last_processed_checkpoint = ?, last_updated = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE processor_id = 'raw-bench' AND partition = 'emt:default' AND version = 1`),
		del: prep(`DELETE FROM raw_cart_details`),
	}
}

func (r *rawProjector) run(b *testing.B) time.Duration {
	ctx := context.Background()
	if _, err := r.del.Exec(); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var after int64
	var ids []string
	for {
		rows, err := r.read.QueryContext(ctx, after, r.batch)
		if err != nil {
			b.Fatal(err)
		}
		var (
			sp, gp       int64
			id, typ, sid string
			data         []byte
			md, created  sql.RawBytes
			n            int
		)
		ids = ids[:0]
		for rows.Next() {
			if err := rows.Scan(&sp, &gp, &id, &typ, &data, &md, &created, &sid); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, sid)
			after = gp
			n++
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		get, put := tx.StmtContext(ctx, r.get), tx.StmtContext(ctx, r.put)
		for _, id := range ids {
			var doc []byte
			if err := get.QueryRowContext(ctx, id).Scan(&doc); err != nil && err != sql.ErrNoRows {
				b.Fatal(err)
			}
			if _, err := put.ExecContext(ctx, id, r.doc); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := tx.StmtContext(ctx, r.move).ExecContext(ctx, fmt.Sprintf("%019d", after)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if n < r.batch {
			break
		}
	}
	return time.Since(t0)
}
