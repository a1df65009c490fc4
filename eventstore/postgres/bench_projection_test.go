package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	sc "github.com/emmett-go/emmett/examples/shoppingcart"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// BenchmarkProjectorCatchUp times a projector catching up on a backlog of
// 100,000 shopping-cart events into PostgreSQL documents (the cart details
// read model), against raw pgx doing the equivalent database work in the
// same run:
//
//	go test -run '^$' -bench ProjectorCatchUp -benchtime 3x ./eventstore/postgres/
//
// The backlog is 20,000 carts of 5 events (3 product items added, one
// removed, then confirmed or cancelled), their events interleaved 100 carts
// at a time (one transaction per step of 100 carts, one event per append),
// so that a batch touches many carts. Store: a projector
// (projection.NewProjector on the store's Source, with a fresh processor
// id each time) runs from the start of the log until it has processed the
// last event: it reads the log in batches (ReadAll), decodes the events,
// reads each document a batch touches, evolves it, writes it, and moves
// its checkpoint, one transaction per batch. Raw: the same batches read
// with the store's SELECT, then in one transaction per batch, for each cart
// the batch touches, a SELECT of its document and an upsert of a
// representative cart document (~400 bytes of JSON, encoded once), and an
// UPDATE of a checkpoint row. Both run on the same database, on pools of
// the same size, alternating which goes first.
func BenchmarkProjectorCatchUp(b *testing.B) {
	ctx := context.Background()
	db := benchDatabase(b) + "&pool_max_conns=8"
	const carts, perCart, wave = 20_000, 5, 100
	s, err := postgres.Open(ctx, db)
	require.NoError(b, err)
	defer s.Close()
	total := buildCartBacklog(b, s, carts, wave)
	require.Equal(b, int64(carts*perCart), total)
	pool, err := pgxpool.New(ctx, db)
	require.NoError(b, err)
	defer pool.Close()
	head, err := s.Head(ctx)
	require.NoError(b, err)

	runs := 0 // processor ids are never reused: the testing package may call a benchmark again
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			raw := newRawProjector(b, pool, batch)
			details := sc.CartDetailsProjection()
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
			fmt.Printf("RATIO %s: store %.0f events/s, raw %.0f events/s, ratio %.2f (store throughput / raw throughput, %d runs each)\n",
				b.Name(), storeRate, rawRate, storeRate/rawRate, i)
		})
	}
}

// buildCartBacklog appends the carts' events, a wave of carts at a time,
// their events interleaved, and returns the number of events.
func buildCartBacklog(b *testing.B, s *postgres.Store, carts, wave int) int64 {
	ctx := context.Background()
	events := sc.Events()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var n int64
	for first := 0; first < carts; first += wave {
		for step := range 5 {
			tx, err := s.Pool().Begin(ctx)
			require.NoError(b, err)
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
				_, err = s.AppendToStreamTx(ctx, tx, sc.StreamName(id), data)
				require.NoError(b, err)
				n++
			}
			require.NoError(b, tx.Commit(ctx))
		}
	}
	// The document table, created by the store so that raw writes the same
	// layout.
	require.NoError(b, s.Documents().Put(ctx, "raw_cart_details", "x", []byte(`{}`)))
	return n
}

// rawProjector is the raw pgx equivalent of the projector.
type rawProjector struct {
	pool  *pgxpool.Pool
	batch int
	doc   []byte
}

const (
	rawReadSQL = `SELECT stream_id, stream_position, global_position, transaction_id, created, message_id, message_type, message_data, message_metadata
FROM emt_messages
WHERE is_archived = FALSE AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3`
	rawGetSQL = `SELECT data FROM raw_cart_details WHERE _id = $1`
	rawPutSQL = `INSERT INTO raw_cart_details AS c (_id, data) VALUES ($1, $2::jsonb)
ON CONFLICT (_id) DO UPDATE SET data = excluded.data, _version = c._version + 1, _updated = now()`
	rawMoveSQL = `UPDATE emt_processors SET last_processed_checkpoint = $1, last_processed_transaction_id = $2::xid8, last_updated = now()
WHERE processor_id = 'raw-bench' AND partition = 'emt:default' AND version = 1`
)

func newRawProjector(b *testing.B, pool *pgxpool.Pool, batch int) *rawProjector {
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO emt_processors (processor_id, last_processed_checkpoint, last_processed_transaction_id)
VALUES ('raw-bench', '', '0') ON CONFLICT DO NOTHING`)
	require.NoError(b, err)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	doc, err := json.Marshal(sc.ShoppingCartDetails{ID: "cart-00042", ClientID: "client-0042", Status: sc.StatusConfirmed, OpenedAt: at, ConfirmedAt: &at,
		ProductItems:      []sc.PricedProductItem{{ProductID: "p-0", Quantity: 2, UnitPrice: 9.99}, {ProductID: "p-1", Quantity: 3, UnitPrice: 9.99}, {ProductID: "p-2", Quantity: 3, UnitPrice: 9.99}},
		ProductItemsCount: 8, TotalAmount: 79.92})
	require.NoError(b, err)
	return &rawProjector{pool: pool, batch: batch, doc: doc}
}

func (r *rawProjector) run(b *testing.B) time.Duration {
	ctx := context.Background()
	if _, err := r.pool.Exec(ctx, `DELETE FROM raw_cart_details`); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var afterTx uint64
	var afterGP int64
	var ids []string
	for {
		rows, err := r.pool.Query(ctx, rawReadSQL, afterTx, afterGP, r.batch)
		if err != nil {
			b.Fatal(err)
		}
		var (
			sid, id, typ string
			sp, gp       int64
			txID         uint64
			created      time.Time
			data, md     []byte
			n            int
		)
		ids = ids[:0]
		for rows.Next() {
			if err := rows.Scan(&sid, &sp, &gp, &txID, &created, &id, &typ, &data, &md); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, sid)
			afterTx, afterGP = txID, gp
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			for _, id := range ids {
				var doc []byte
				if err := tx.QueryRow(ctx, rawGetSQL, id).Scan(&doc); err != nil && err != pgx.ErrNoRows {
					return err
				}
				if _, err := tx.Exec(ctx, rawPutSQL, id, r.doc); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, rawMoveSQL, fmt.Sprintf("%020d:%019d", afterTx, afterGP), afterTx)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if n < r.batch {
			break
		}
	}
	return time.Since(t0)
}
