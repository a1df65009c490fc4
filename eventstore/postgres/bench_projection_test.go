package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/internal/catchupbench"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// BenchmarkProjectorCatchUp times a projector catching up on a backlog of
// 100,000 shopping-cart events into PostgreSQL documents (the cart details
// read model), against raw pgx doing the equivalent database work in the
// same run (the scenario is internal/catchupbench's):
//
//	go test -run '^$' -bench ProjectorCatchUp -benchtime 3x ./eventstore/postgres/
//
// The backlog is appended one transaction per step of a wave of carts. Both
// run on the same database, on pools of the same size.
func BenchmarkProjectorCatchUp(b *testing.B) {
	ctx := context.Background()
	db := benchDatabase(b) + "&pool_max_conns=8"
	s, err := postgres.Open(ctx, db)
	require.NoError(b, err)
	defer s.Close()
	buildCartBacklog(b, s)
	pool, err := pgxpool.New(ctx, db)
	require.NoError(b, err)
	defer pool.Close()
	catchupbench.Run(b, catchupbench.Config{
		Store: func(*testing.B) catchupbench.Store { return s },
		Raw: func(b *testing.B, batch int) func(*testing.B) time.Duration {
			return newRawProjector(b, pool, batch).run
		},
		Report: func(b *testing.B, storeRate, rawRate float64, runs int) {
			fmt.Printf("RATIO %s: store %.0f events/s, raw %.0f events/s, ratio %.2f (store throughput / raw throughput, %d runs each)\n",
				b.Name(), storeRate, rawRate, storeRate/rawRate, runs)
		},
	})
}

// BenchmarkVersionBuild times building version 2 of the cart details
// projection on the backlog of BenchmarkProjectorCatchUp (a processor
// replaying the log into its own collection until it switches reads to
// it), quiet and while version 1's processor runs and 2 writers append
// 300 cart events a second (internal/catchupbench's RunVersionBuild):
//
//	go test -run '^$' -bench VersionBuild -benchtime 3x ./eventstore/postgres/
//
// The store's pool has room for both processors' locks and batches, the
// writers and the reads of the active version.
func BenchmarkVersionBuild(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, benchDatabase(b)+"&pool_max_conns=16")
	require.NoError(b, err)
	defer s.Close()
	buildCartBacklog(b, s)
	catchupbench.RunVersionBuild(b, s)
}

// buildCartBacklog appends the backlog, a transaction per step.
func buildCartBacklog(b *testing.B, s *postgres.Store) {
	ctx := context.Background()
	catchupbench.Backlog(b, func(step []catchupbench.Append) error {
		return pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			for _, a := range step {
				if _, err := s.AppendToStreamTx(ctx, tx, a.Stream, a.Events); err != nil {
					return err
				}
			}
			return nil
		})
	})
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
	return &rawProjector{pool: pool, batch: batch, doc: catchupbench.RawDocument(b)}
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
