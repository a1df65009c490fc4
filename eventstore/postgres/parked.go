package postgres

import (
	"context"
	"errors"
	"strings"
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

// procStore is how the parked events and the projection versions of
// Processors run statements: in the transactions of Processors' Commit or
// in transactions of their own.
func (s *Store) procStore() sqlproc.Store {
	inTx := func(tx projection.Tx) (pgx.Tx, error) {
		pgTx, ok := tx.Unwrap().(pgx.Tx)
		if !ok {
			return nil, errors.New("postgres: not a transaction of the store's Processors().Commit")
		}
		return pgTx, nil
	}
	return sqlproc.Store{
		Backend: "postgres",
		Dollar:  true,
		Exec: func(ctx context.Context, query string, args ...any) (int64, error) {
			if s.closed.Load() {
				return 0, eventstore.ErrClosed
			}
			tag, err := s.pool.Exec(ctx, query, args...)
			if err != nil {
				return 0, s.dbError(ctx, "writing processors' state", err)
			}
			return tag.RowsAffected(), nil
		},
		ExecIn: func(ctx context.Context, tx projection.Tx, query string, args ...any) (int64, error) {
			pgTx, err := inTx(tx)
			if err != nil {
				return 0, err
			}
			tag, err := pgTx.Exec(ctx, query, args...)
			if err != nil {
				return 0, s.dbError(ctx, "writing processors' state", err)
			}
			return tag.RowsAffected(), nil
		},
		Query: func(ctx context.Context, query string, args ...any) (sqlproc.Rows, func(), error) {
			if s.closed.Load() {
				return nil, nil, eventstore.ErrClosed
			}
			rows, err := s.pool.Query(ctx, query, args...)
			if err != nil {
				return nil, nil, s.dbError(ctx, "reading processors' state", err)
			}
			return rows, rows.Close, nil
		},
		QueryIn: func(ctx context.Context, tx projection.Tx, query string, args ...any) (sqlproc.Rows, func(), error) {
			pgTx, err := inTx(tx)
			if err != nil {
				return nil, nil, err
			}
			rows, err := pgTx.Query(ctx, query, args...)
			if err != nil {
				return nil, nil, s.dbError(ctx, "reading processors' state", err)
			}
			return rows, rows.Close, nil
		},
		InTx: func(ctx context.Context, fn func(exec func(query string, args ...any) (int64, error)) error) error {
			return s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				return fn(func(query string, args ...any) (int64, error) {
					tag, err := tx.Exec(ctx, query, args...)
					if err != nil {
						return 0, s.dbError(ctx, "writing processors' state", err)
					}
					return tag.RowsAffected(), nil
				})
			})
		},
		Wrap: func(ctx context.Context, doing string, err error) error { return s.dbError(ctx, doing, err) },
		Time: func(t time.Time) any { return t },
		JSON: func(b []byte) any { return b },
	}
}

// parkedEvents returns the parked events of Processors, in
// emt_parked_messages.
func (s *Store) parkedEvents() projection.ParkedEvents { return sqlproc.NewParkedEvents(s.procStore()) }

// projectionVersions returns the projection versions of Processors, in
// emt_projections. A transaction deciding on a projection's versions
// holds an advisory lock on its name (in the two-key space, apart from
// the processors' locks) until it ends.
func (s *Store) projectionVersions() projection.VersionStore {
	return sqlproc.NewVersions(s.procStore(), sqlproc.VersionSQL{
		Now:            "now()",
		LockName:       `SELECT pg_advisory_xact_lock(` + versionLockSpace + `, hashtext(?))`,
		ForShare:       " FOR SHARE",
		DropCollection: func(name string) string { return `DROP TABLE IF EXISTS "` + name + `"` },
		Dropped: func(names []string) {
			for _, n := range names {
				s.docs.forget(n)
			}
		},
	})
}

// versionLockSpace is the first key of the advisory locks on projections'
// versions ("emt" in ASCII).
const versionLockSpace = "6647156"

// activeVersionSQL is sqlproc.ActiveVersionSQL with PostgreSQL's
// placeholder.
var activeVersionSQL = strings.Replace(sqlproc.ActiveVersionSQL, "?", "$1", 1)

// ActiveVersion implements projection.VersionResolver, for the
// projections' Collections: the active version recorded in
// emt_projections.
func (d storeDocs) ActiveVersion(ctx context.Context, name string) (int, bool, error) {
	if d.s.closed.Load() {
		return 0, false, eventstore.ErrClosed
	}
	var v int
	err := d.s.pool.QueryRow(ctx, activeVersionSQL, name).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, d.s.dbError(ctx, "reading the active version of projection "+name, err)
	}
	return v, true, nil
}
