package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrPublicationInUse is matched by the error of DropPublication while
// pgoutput slots remain in the database.
var ErrPublicationInUse = errors.New("replication: publication in use")

// publicationLockSQL and publicationUnlockSQL take and release the advisory
// lock of a publication: DropPublication holds it exclusively, a source
// shares it from making sure of the publication until its new slot exists.
const (
	publicationLockSQL         = `SELECT pg_advisory_xact_lock(hashtextextended('emt_replication_publication ' || $1, 0))`
	publicationLockSharedSQL   = `SELECT pg_advisory_lock_shared(hashtextextended('emt_replication_publication ' || $1, 0))`
	publicationUnlockSharedSQL = `SELECT pg_advisory_unlock_shared(hashtextextended('emt_replication_publication ' || $1, 0))`
	pgoutputSlotsSQL           = `SELECT slot_name FROM pg_replication_slots WHERE database = current_database() AND plugin = 'pgoutput' ORDER BY slot_name`
)

// DropPublication drops the publication of store's database that the
// sources read (publication names it; DefaultPublication when ""), to
// retire logical replication from the database. A missing publication is
// not an error.
//
// A pgoutput slot does not record which publications it streams (its
// consumer names them each time it starts streaming), and a slot whose
// publication is gone fails at its next change. So DropPublication
// refuses, with an error that matches ErrPublicationInUse and names them,
// while any pgoutput slot of the database remains, the sources' and any
// other's (a subscription of another server): drop those first
// (Source.DropSlot for a processor's). A source of this package that
// creates its slot at the same time waits for the drop, then creates the
// publication again.
func DropPublication(ctx context.Context, store *postgres.Store, publication string) error {
	return dropPublication(ctx, store.Pool(), publication)
}

func dropPublication(ctx context.Context, pool *pgxpool.Pool, publication string) error {
	if publication == "" {
		publication = DefaultPublication
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, publicationLockSQL, publication); err != nil {
			return fmt.Errorf("replication: dropping publication %q: %w", publication, err)
		}
		slots, err := pgoutputSlots(ctx, tx)
		if err != nil {
			return fmt.Errorf("replication: dropping publication %q: reading the slots: %w", publication, err)
		}
		if len(slots) > 0 {
			return fmt.Errorf("%w: publication %q is not dropped while pgoutput slots of the database remain, which may stream it: %s; "+
				"drop them first (Source.DropSlot, or emmett slot PROCESSOR -drop for a processor's)",
				ErrPublicationInUse, publication, strings.Join(slots, ", "))
		}
		if _, err := tx.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{publication}.Sanitize()); err != nil {
			return fmt.Errorf("replication: dropping publication %q: %w", publication, err)
		}
		return nil
	})
}

// pgoutputSlots returns the names of the pgoutput slots of the database.
func pgoutputSlots(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]string, error) {
	rows, err := db.Query(ctx, pgoutputSlotsSQL)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// holdPublication returns a connection of the pool holding the shared
// lock of the source's publication, and the publication made sure of: it
// cannot be dropped until release is called. The source holds it while it
// creates its slot, whose changes name the publication from the start.
func (s *Source) holdPublication(ctx context.Context) (conn *pgxpool.Conn, release func(), err error) {
	conn, err = s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("replication: %w", err)
	}
	if _, err := conn.Exec(ctx, publicationLockSharedSQL, s.opts.Publication); err != nil {
		conn.Release()
		return nil, nil, fmt.Errorf("replication: locking publication %q: %w", s.opts.Publication, err)
	}
	release = func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), publicationUnlockSharedSQL, s.opts.Publication); err != nil {
			// The pool must not hand out a connection holding the
			// lock: closing it releases it.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}
	if err := s.setupOn(ctx, conn); err != nil {
		release()
		return nil, nil, err
	}
	s.setupDone.Store(true)
	return conn, release, nil
}
