package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
)

// positionAtSQL finds where the events stored at a time or later begin, in
// ReadAll's (transaction_id, global_position) order: the position just
// before the first of them, or the head when there is none, in one
// statement (one snapshot). It walks the (transaction_id,
// global_position) index from the start up to that event.
const positionAtSQL = `(SELECT transaction_id, global_position - 1, 0 AS k FROM emt_messages
WHERE created >= $1 AND is_archived = FALSE AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position LIMIT 1)
UNION ALL
(SELECT transaction_id, global_position, 1 FROM emt_messages
WHERE is_archived = FALSE AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
ORDER BY k LIMIT 1`

// PositionAt implements projection.TimeSeeker, for processors started with
// projection.StartFromTime: the position just before the first event, in
// ReadAll's order, stored (created) at t or later, every partition
// included; the head when there is none. Like Head, it first waits (up to
// WithReadAllWait) for the transactions open when it starts. The position
// is one of the table's order, which the logical replication feed takes
// too.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	if s.closed.Load() {
		return eventstore.Position{}, eventstore.ErrClosed
	}
	// As Head: the query reads no event past the oldest transaction open
	// on the server (in any database), which would otherwise make the
	// events committed since look as if they came after t.
	if err := s.waitForOpenTransactions(ctx); err != nil {
		return eventstore.Position{}, s.readError(ctx, "finding the events stored from "+t.Format(time.RFC3339Nano), err)
	}
	var p eventstore.Position
	var k int
	err := s.pool.QueryRow(ctx, positionAtSQL, t).Scan(&p.TransactionID, &p.GlobalPosition, &k)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.Position{}, nil
	case err != nil:
		return eventstore.Position{}, s.readError(ctx, "finding the events stored from "+t.Format(time.RFC3339Nano), err)
	}
	return p, nil
}

// PositionAt implements projection.TimeSeeker: the store's (a position of
// the global log is one of the partition's feed too).
func (p partitionLog) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	return p.s.PositionAt(ctx, t)
}

// parkedEvents returns the parked events of Processors, in
// emt_parked_messages: written in the transactions of Processors' Commit
// (Park, Unpark) or in transactions of their own.
func (s *Store) parkedEvents() projection.ParkedEvents {
	return sqlproc.NewParkedEvents(sqlproc.ParkedStore{
		Backend: "postgres",
		Dollar:  true,
		Exec: func(ctx context.Context, query string, args ...any) (int64, error) {
			if s.closed.Load() {
				return 0, eventstore.ErrClosed
			}
			tag, err := s.pool.Exec(ctx, query, args...)
			if err != nil {
				return 0, s.dbError(ctx, "writing parked events", err)
			}
			return tag.RowsAffected(), nil
		},
		ExecIn: func(ctx context.Context, tx projection.Tx, query string, args ...any) (int64, error) {
			pgTx, ok := tx.Unwrap().(pgx.Tx)
			if !ok {
				return 0, errors.New("postgres: parked events: not a transaction of the store's Processors().Commit")
			}
			tag, err := pgTx.Exec(ctx, query, args...)
			if err != nil {
				return 0, s.dbError(ctx, "writing parked events", err)
			}
			return tag.RowsAffected(), nil
		},
		Query: func(ctx context.Context, query string, args ...any) (sqlproc.Rows, func(), error) {
			if s.closed.Load() {
				return nil, nil, eventstore.ErrClosed
			}
			rows, err := s.pool.Query(ctx, query, args...)
			if err != nil {
				return nil, nil, s.dbError(ctx, "reading parked events", err)
			}
			return rows, rows.Close, nil
		},
		Time: func(t time.Time) any { return t },
		JSON: func(b []byte) any { return b },
	})
}
