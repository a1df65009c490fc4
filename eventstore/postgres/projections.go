package postgres

import (
	"context"
	"slices"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
)

// WithProjections registers inline projections: they run inside every
// append's transaction, as a BeforeCommit hook (after the hooks of the
// options before it), on the appended events of the types they handle
// (others are not decoded). A read right after the append sees their
// documents; an error in one rolls the append back (nothing of the events
// nor of any projection's writes is stored) and is returned by the append:
// a *projection.Error naming the projection and the event.
//
// Their Tx's Documents() reads and writes in the append's transaction, and
// Unwrap() returns the pgx.Tx, for projections that keep tables of their
// own. They run in AppendToStreamTx's transaction too.
//
// Appends to different streams run their inline projections concurrently:
// two appends that change one document queue on its row (or, rarely,
// deadlock, and the append is tried again). A collection a projection
// writes to for the first time is created in the append's transaction.
// The indexes they declare (projection.WithIndexes) are created when the
// store opens (New), where they are missing.
func WithProjections(ps ...projection.Projection) Option {
	return func(c *config) {
		r := &inlineRunner{projections: ps}
		c.inline = append(c.inline, r)
		c.beforeCommit = append(c.beforeCommit, r.beforeCommit)
	}
}

// inlineRunner applies inline projections; New binds it to its store.
type inlineRunner struct {
	s           *Store
	projections []projection.Projection
}

func (r *inlineRunner) beforeCommit(ctx context.Context, tx pgx.Tx, _ string, res eventstore.AppendResult) error {
	return backend.ApplyInline(ctx, r.s.newTx(ctx, tx, true), r.projections, res.Events)
}

// inTx reports whether an append of events runs in a transaction of its
// own: when a BeforeCommit hook of the application's is set (each inline
// runner adds one hook, so there are more hooks than runners), or when an
// inline projection handles one of the events' types. Otherwise the append
// is its one statement, one round trip, as without hooks.
func (c *config) inTx(events []backend.PreparedEvent) bool {
	if len(c.beforeCommit) > len(c.inline) {
		return true
	}
	for _, r := range c.inline {
		for _, p := range r.projections {
			types := p.EventTypes()
			if types == nil {
				return true
			}
			for _, e := range events {
				if slices.Contains(types, e.Type) {
					return true
				}
			}
		}
	}
	return false
}
