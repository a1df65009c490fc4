package backend

import (
	"context"
	"errors"
	"slices"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
)

// NewTx returns the projection.Tx of a backend's transaction: docs is its
// document store bound to the transaction, raw what Unwrap returns (the
// backend's own transaction, or nil).
func NewTx(docs projection.DocumentStore, raw any) projection.Tx { return txOf{docs, raw} }

type txOf struct {
	docs projection.DocumentStore
	raw  any
}

func (t txOf) Documents() projection.DocumentStore { return t.docs }
func (t txOf) Unwrap() any                         { return t.raw }

// Filter returns the events of batch whose type p handles. It returns batch
// itself when p handles every type.
func Filter(p projection.Projection, batch []emmett.RecordedEvent) []emmett.RecordedEvent {
	types := p.EventTypes()
	if types == nil {
		return batch
	}
	var out []emmett.RecordedEvent
	for _, e := range batch {
		if slices.Contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// ApplyInline runs projections on the events of an append inside its
// transaction. Backends call it before committing; an error must roll the
// append back. A projection's failure is returned as a *projection.Error
// naming it.
func ApplyInline(ctx context.Context, tx projection.Tx, projections []projection.Projection, events []emmett.RecordedEvent) error {
	for _, p := range projections {
		handled := Filter(p, events)
		if len(handled) == 0 {
			continue
		}
		if err := p.Handle(ctx, tx, handled); err != nil {
			var perr *projection.Error
			if errors.As(err, &perr) {
				return err
			}
			return &projection.Error{Projection: p.Name(), Err: err}
		}
	}
	return nil
}
