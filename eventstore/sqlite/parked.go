package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
)

// positionAtSQL finds where the events stored at a time or later begin:
// the position before the first of them, or the head when there is none,
// in one statement (an append in between cannot fall between the two).
// Times compare as the text this package writes (UTC, createdLayout).
const positionAtSQL = `SELECT coalesce(
    (SELECT global_position - 1 FROM emt_messages WHERE created >= ? AND is_archived = 0 ORDER BY global_position LIMIT 1),
    (SELECT global_position FROM emt_messages WHERE is_archived = 0 ORDER BY global_position DESC LIMIT 1),
    0)`

// PositionAt implements projection.TimeSeeker, for processors started with
// projection.StartFromTime: the position just before the first event
// stored at t or later (every partition included), or the head when there
// is none.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	if err := s.beginRead(); err != nil {
		return eventstore.Position{}, err
	}
	var gp int64
	if err := s.readers.QueryRowContext(ctx, positionAtSQL, string(appendCreated(nil, t.UTC()))).Scan(&gp); err != nil {
		return eventstore.Position{}, s.readError(ctx, err)
	}
	return eventstore.Position{GlobalPosition: gp}, nil
}

// PositionAt implements projection.TimeSeeker: the store's (a position of
// the global log is one of the partition's feed too).
func (p partitionLog) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	return p.s.PositionAt(ctx, t)
}

// procStore is how the parked events and the projection versions of
// Processors run statements: written in the transactions of Processors'
// Commit or in transactions of their own, read from the readers.
func (s *Store) procStore() sqlproc.Store {
	inTx := func(tx projection.Tx) (*sql.Tx, error) {
		sqlTx, ok := tx.Unwrap().(*sql.Tx)
		if !ok {
			return nil, errors.New("sqlite: not a transaction of the store's Processors().Commit")
		}
		return sqlTx, nil
	}
	return sqlproc.Store{
		Backend: "sqlite",
		Exec: func(ctx context.Context, query string, args ...any) (n int64, err error) {
			err = s.writeTx(ctx, func(tx *sql.Tx) error {
				n, err = execCount(ctx, tx, query, args)
				return err
			})
			if err != nil {
				err = s.dbError(ctx, "writing processors' state", err)
			}
			return n, err
		},
		ExecIn: func(ctx context.Context, tx projection.Tx, query string, args ...any) (int64, error) {
			sqlTx, err := inTx(tx)
			if err != nil {
				return 0, err
			}
			n, err := execCount(ctx, sqlTx, query, args)
			if err != nil {
				err = s.dbError(ctx, "writing processors' state", err)
			}
			return n, err
		},
		Query: func(ctx context.Context, query string, args ...any) (sqlproc.Rows, func(), error) {
			if err := s.beginRead(); err != nil {
				return nil, nil, err
			}
			rows, err := s.readers.QueryContext(ctx, query, args...)
			if err != nil {
				return nil, nil, s.dbError(ctx, "reading processors' state", err)
			}
			return rows, func() { _ = rows.Close() }, nil
		},
		QueryIn: func(ctx context.Context, tx projection.Tx, query string, args ...any) (sqlproc.Rows, func(), error) {
			sqlTx, err := inTx(tx)
			if err != nil {
				return nil, nil, err
			}
			rows, err := sqlTx.QueryContext(ctx, query, args...)
			if err != nil {
				return nil, nil, s.dbError(ctx, "reading processors' state", err)
			}
			return rows, func() { _ = rows.Close() }, nil
		},
		InTx: func(ctx context.Context, fn func(exec func(query string, args ...any) (int64, error)) error) error {
			err := s.writeTx(ctx, func(tx *sql.Tx) error {
				return fn(func(query string, args ...any) (int64, error) {
					return execCount(ctx, tx, query, args)
				})
			})
			if err != nil {
				err = s.dbError(ctx, "writing processors' state", err)
			}
			return err
		},
		Wrap:      func(ctx context.Context, doing string, err error) error { return s.dbError(ctx, doing, err) },
		Time:      func(t time.Time) any { return string(appendCreated(nil, t)) },
		JSON:      func(b []byte) any { return string(b) },
		ParseTime: func(text string) (time.Time, error) { return parseCreated([]byte(text)) },
	}
}

// parkedEvents returns the parked events of Processors, in
// emt_parked_messages.
func (s *Store) parkedEvents() projection.ParkedEvents { return sqlproc.NewParkedEvents(s.procStore()) }

// projectionVersions returns the projection versions of Processors, in
// emt_projections.
func (s *Store) projectionVersions() projection.VersionStore {
	return sqlproc.NewVersions(s.procStore(), sqlproc.VersionSQL{
		Now:            nowSQL,
		DropCollection: func(name string) string { return `DROP TABLE IF EXISTS "` + name + `"` },
		Dropped: func(names []string) {
			for _, n := range names {
				s.docs.forget(n)
			}
		},
	})
}

// ActiveVersion implements projection.VersionResolver, for the
// projections' Collections: the active version recorded in
// emt_projections.
func (d storeDocs) ActiveVersion(ctx context.Context, name string) (int, bool, error) {
	if err := d.s.beginRead(); err != nil {
		return 0, false, err
	}
	var v int
	err := d.s.readers.QueryRowContext(ctx, sqlproc.ActiveVersionSQL, name).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, d.s.dbError(ctx, "reading the active version of projection "+name, err)
	}
	return v, true, nil
}

// execCount runs a statement in tx and returns the number of rows it
// changed.
func execCount(ctx context.Context, tx *sql.Tx, query string, args []any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
