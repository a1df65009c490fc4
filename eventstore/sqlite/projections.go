package sqlite

import (
	"context"
	"database/sql"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// WithProjections registers inline projections: they run inside every
// append's transaction, as a BeforeCommit hook, on the appended events of
// the types they handle (others are not decoded). A read right after the
// append sees their documents; an error in one rolls the append back
// (nothing of the events nor of any projection's writes is stored) and is
// returned by the append, a *projection.Error naming the projection and
// the event.
//
// Their Tx's Documents() writes in the append's transaction, and Unwrap()
// returns the *sql.Tx, for projections that keep tables of their own.
// They run while the store's single writer is held, one append at a time:
// they must use their Tx, never the store itself (its Documents' writes,
// appends), which would wait for the writer they hold.
//
// The indexes they declare (projection.WithIndexes) are created when the
// store opens, where they are missing.
func WithProjections(ps ...projection.Projection) Option {
	return func(c *config) {
		r := &inlineRunner{projections: ps}
		c.inline = append(c.inline, r)
		c.beforeCommit = append(c.beforeCommit, r.beforeCommit)
	}
}

// inlineRunner applies inline projections; newStore binds it to its store.
type inlineRunner struct {
	s           *Store
	projections []projection.Projection
}

func (r *inlineRunner) beforeCommit(ctx context.Context, tx *sql.Tx, _ string, res eventstore.AppendResult) error {
	return backend.ApplyInline(ctx, r.s.newTx(tx), r.projections, res.Events)
}
