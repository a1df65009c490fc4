package postgres

import (
	"context"
	"slices"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// An append with inline projections runs in a transaction of its own
// (appendInNewTx). Its BEGIN, its statement and the reads of the documents
// its inline projections will read (projection.Prefetcher), locked as
// their Get would lock them, go to the server in one batch: one round trip
// where BEGIN, the append and one read per document took one each. The
// projections' reads are then answered from what the batch read, and
// their writes go with the COMMIT (deferWrites): an append that updates
// two read models costs two round trips.

// prefetchRead is a read of documents of a collection sent with an
// append.
type prefetchRead struct {
	collection string
	ids        []string
}

// prefetchedDoc is a document read with the append: its data and
// _version, or found false (and version 0) when there is none.
type prefetchedDoc struct {
	data    []byte
	version int64
	found   bool
}

// getDocsForUpdateSQL reads and locks the documents of a collection with
// the given ids, in id order (the order every transaction locks them in,
// see projection.DocumentProjection).
func getDocsForUpdateSQL(name string) string {
	return `SELECT _id, data, _version FROM "` + name + `" WHERE _id = ANY($1) ORDER BY _id FOR NO KEY UPDATE`
}

// prefetchPlan returns the reads of documents the inline projections that
// are Prefetchers will make for c's events: only in collections the store
// knows to exist (a read of a missing table would abort the append's
// transaction), of valid ids.
func (s *Store) prefetchPlan(c *appendCall) []prefetchRead {
	var events []emmett.RecordedEvent
	var reads []prefetchRead
	for _, r := range s.cfg.inline {
		for _, p := range r.projections {
			pf, ok := p.(projection.Prefetcher)
			if !ok {
				continue
			}
			if events == nil {
				events = make([]emmett.RecordedEvent, len(c.prepared))
				for i, e := range c.prepared {
					events[i] = emmett.RecordedEvent{MessageID: e.MessageID, Type: e.Type, Data: e.Data,
						SchemaVersion: e.SchemaVersion, Metadata: e.Metadata, StreamName: c.stream}
				}
			}
			handled := backend.Filter(p, events)
			if len(handled) == 0 {
				continue
			}
			collection, ids := pf.Prefetch(handled)
			ids = slices.DeleteFunc(ids, func(id string) bool { return projection.ValidateDocumentID(id) != nil })
			if len(ids) == 0 || !s.docs.has(collection) {
				continue
			}
			reads = append(reads, prefetchRead{collection, ids})
		}
	}
	return reads
}

// queuePrefetch queues the reads in b, to fill into.
func queuePrefetch(b *pgx.Batch, reads []prefetchRead, into map[docKey]prefetchedDoc) {
	for _, rd := range reads {
		for _, id := range rd.ids {
			into[docKey{rd.collection, id}] = prefetchedDoc{}
		}
		b.Queue(getDocsForUpdateSQL(rd.collection), rd.ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var doc prefetchedDoc
				if err := rows.Scan(&id, &doc.data, &doc.version); err != nil {
					return err
				}
				doc.found = true
				into[docKey{rd.collection, id}] = doc
			}
			return rows.Err()
		})
	}
}

// begunTx is the transaction of an append that began it in a batch (see
// appendInNewTx), on a connection acquired for it: the pgx.Tx its hooks
// get. Its statements go to the connection, inside the transaction. A
// nested transaction (a savepoint) or large objects need a pgx
// transaction: begunTx then makes one, at the cost of a round trip, and
// hands everything to it.
type begunTx struct {
	conn *pgx.Conn
	tx   pgx.Tx // made by made, then used for everything
	done bool
}

// made returns the pgx transaction standing for t, making it (with a
// no-op as its BEGIN: the connection is in the transaction already).
func (t *begunTx) made(ctx context.Context) (pgx.Tx, error) {
	if t.tx == nil {
		if t.done {
			return nil, pgx.ErrTxClosed
		}
		tx, err := t.conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "SELECT 1"})
		if err != nil {
			return nil, err
		}
		t.tx = tx
	}
	return t.tx, nil
}

func (t *begunTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.made(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

func (t *begunTx) Commit(ctx context.Context) error {
	if t.tx != nil {
		return t.tx.Commit(ctx)
	}
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	tag, err := t.conn.Exec(ctx, "commit")
	if err != nil {
		if t.conn.PgConn().TxStatus() != 'I' {
			_ = t.conn.Close(ctx) // as pgx does: the outcome is not known
		}
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *begunTx) Rollback(ctx context.Context) error {
	if t.tx != nil {
		return t.tx.Rollback(ctx)
	}
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	if _, err := t.conn.Exec(ctx, "rollback"); err != nil {
		_ = t.conn.Close(ctx) // as pgx does: the connection's state is not known
		return err
	}
	return nil
}

func (t *begunTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if t.tx != nil {
		return t.tx.CopyFrom(ctx, table, columns, src)
	}
	if t.done {
		return 0, pgx.ErrTxClosed
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *begunTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.tx != nil {
		return t.tx.SendBatch(ctx, b)
	}
	return t.conn.SendBatch(ctx, b)
}

// LargeObjects makes t a pgx transaction (see begunTx) with a context of
// its own; where that fails, the large objects' calls fail.
func (t *begunTx) LargeObjects() pgx.LargeObjects {
	tx, err := t.made(context.Background())
	if err != nil {
		return pgx.LargeObjects{}
	}
	return tx.LargeObjects()
}

func (t *begunTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if t.tx != nil {
		return t.tx.Prepare(ctx, name, sql)
	}
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	return t.conn.Prepare(ctx, name, sql)
}

func (t *begunTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.tx != nil {
		return t.tx.Exec(ctx, sql, args...)
	}
	if t.done {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *begunTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.tx != nil {
		return t.tx.Query(ctx, sql, args...)
	}
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *begunTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.tx != nil {
		return t.tx.QueryRow(ctx, sql, args...)
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *begunTx) Conn() *pgx.Conn { return t.conn }
