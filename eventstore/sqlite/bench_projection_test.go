package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/catchupbench"
	"github.com/stretchr/testify/require"
)

// BenchmarkProjectorCatchUp times a projector catching up on a backlog of
// 100,000 shopping-cart events into SQLite documents (the cart details
// read model), against raw database/sql doing the equivalent database work
// in the same run (the scenario is internal/catchupbench's):
//
//	go test -run '^$' -bench ProjectorCatchUp -benchtime 3x ./eventstore/sqlite/
//
// Both run on the same database file, with the same settings.
func BenchmarkProjectorCatchUp(b *testing.B) { runCatchUp(b, false) }

// BenchmarkBatchedRawCatchUp is BenchmarkProjectorCatchUp against a raw
// equivalent that does the database work the way the projector does it
// now, rather than a statement per document: in each batch's
// transaction, one SELECT of the documents the batch touches (their ids
// as a JSON array) and upserts of many rows each (64, 32, 4 for 100
// carts), then the checkpoint's UPDATE:
//
//	go test -run '^$' -bench BatchedRawCatchUp -benchtime 3x ./eventstore/sqlite/
func BenchmarkBatchedRawCatchUp(b *testing.B) { runCatchUp(b, true) }

// runCatchUp runs internal/catchupbench's scenario, raw batched or not.
func runCatchUp(b *testing.B, batched bool) {
	ctx := context.Background()
	path := benchPath(b)
	buildCartBacklog(b, path)
	catchupbench.Run(b, catchupbench.Config{
		Store: func(b *testing.B) catchupbench.Store {
			s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
			require.NoError(b, err)
			b.Cleanup(func() { s.Close() })
			return s
		},
		Raw: func(b *testing.B, batch int) func(*testing.B) time.Duration {
			r := newRawProjector(b, path, batch)
			r.batched = batched
			return r.run
		},
	})
}

// BenchmarkCatchUpFailurePolicy compares a projector catching up on the
// backlog of BenchmarkProjectorCatchUp with a failure policy set
// (ParkOnFailure, no event failing) and without (internal/catchupbench's
// RunPolicies):
//
//	go test -run '^$' -bench CatchUpFailurePolicy -benchtime 4x ./eventstore/sqlite/
func BenchmarkCatchUpFailurePolicy(b *testing.B) {
	ctx := context.Background()
	path := benchPath(b)
	buildCartBacklog(b, path)
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	catchupbench.RunPolicies(b, s)
}

// BenchmarkVersionBuild times building version 2 of the cart details
// projection on the backlog of BenchmarkProjectorCatchUp (a processor
// replaying the log into its own collection until it switches reads to
// it), quiet and while version 1's processor runs and 2 writers append
// 300 cart events a second (internal/catchupbench's RunVersionBuild):
//
//	go test -run '^$' -bench VersionBuild -benchtime 3x ./eventstore/sqlite/
func BenchmarkVersionBuild(b *testing.B) {
	ctx := context.Background()
	path := benchPath(b)
	buildCartBacklog(b, path)
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncNormal))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	catchupbench.RunVersionBuild(b, s)
}

// buildCartBacklog appends the backlog, one append at a time.
func buildCartBacklog(b *testing.B, path string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncOff))
	require.NoError(b, err)
	defer s.Close()
	catchupbench.Backlog(b, func(step []catchupbench.Append) error {
		for _, a := range step {
			if _, err := s.AppendToStream(ctx, a.Stream, a.Events); err != nil {
				return err
			}
		}
		return nil
	})
}

// rawProjector is the raw database/sql equivalent of the projector.
type rawProjector struct {
	db                        *sql.DB
	batch                     int
	read, get, put, move, del *sql.Stmt
	doc                       string
	// batched: one SELECT of a batch's documents and upserts of many
	// rows, in puts (of 2<<i rows), instead of a statement per document.
	batched bool
	getMany *sql.Stmt
	puts    []*sql.Stmt
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
	return &rawProjector{
		db: db, batch: batch, doc: string(catchupbench.RawDocument(b)),
		read: prep(`SELECT stream_position, global_position, message_id, message_type, message_data, message_metadata, created, stream_id FROM emt_messages
WHERE global_position > ? AND is_archived = 0 ORDER BY global_position LIMIT ?`),
		get: prep(`SELECT data FROM raw_cart_details WHERE _id = ?`),
		put: prep(`INSERT INTO raw_cart_details (_id, data) VALUES (?1, ?2)
ON CONFLICT (_id) DO UPDATE SET data = excluded.data, _version = _version + 1, _updated = datetime('now')`),
		move: prep(`UPDATE emt_processors SET last_processed_checkpoint = ?, last_updated = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE processor_id = 'raw-bench' AND partition = 'emt:default' AND version = 1`),
		del:     prep(`DELETE FROM raw_cart_details`),
		getMany: prep(`SELECT d._id, d.data FROM json_each(?) AS i CROSS JOIN raw_cart_details AS d ON d._id = i.value`),
		puts: func() (puts []*sql.Stmt) {
			for rows := 2; rows <= 64; rows *= 2 {
				puts = append(puts, prep(`INSERT INTO raw_cart_details (_id, data) VALUES (?, ?)`+strings.Repeat(`, (?, ?)`, rows-1)+`
ON CONFLICT (_id) DO UPDATE SET data = excluded.data, _version = _version + 1, _updated = datetime('now')`))
			}
			return puts
		}(),
	}
}

// writeBatched reads the documents of ids with one SELECT and upserts
// them many at a time.
func (r *rawProjector) writeBatched(ctx context.Context, b *testing.B, tx *sql.Tx, ids []string) {
	list, err := json.Marshal(ids)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := tx.StmtContext(ctx, r.getMany).QueryContext(ctx, string(list))
	if err != nil {
		b.Fatal(err)
	}
	var id string
	var doc sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id, &doc); err != nil {
			b.Fatal(err)
		}
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	var args []any
	for len(ids) > 0 {
		n := 1 << (bits.Len(uint(min(len(ids), 64))) - 1)
		st := r.put
		if n > 1 {
			st = r.puts[bits.Len(uint(n))-2]
		}
		args = args[:0]
		for _, id := range ids[:n] {
			args = append(args, id, r.doc)
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
		ids = ids[n:]
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
		if r.batched {
			r.writeBatched(ctx, b, tx, ids)
			ids = ids[:0]
		}
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
