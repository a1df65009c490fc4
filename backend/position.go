package backend

import (
	"context"
	"fmt"

	"github.com/emmett-go/emmett/eventstore"
)

// ResolvePosition implements eventstore.PositionResolver's rule for a
// store: lookup returns the transaction id of the event at a global
// position (0 in a store without them), and whether there is one.
func ResolvePosition(ctx context.Context, p eventstore.Position, lookup func(ctx context.Context, global int64) (transactionID uint64, found bool, err error)) (eventstore.Position, error) {
	if p.GlobalPosition == 0 {
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	var tx uint64
	found := false
	if p.GlobalPosition > 0 {
		var err error
		if tx, found, err = lookup(ctx, p.GlobalPosition); err != nil {
			return eventstore.Position{}, err
		}
	}
	if !found || (p.TransactionID != 0 && p.TransactionID != tx) {
		return eventstore.Position{}, fmt.Errorf("%w %s", eventstore.ErrPositionNotFound, p)
	}
	return eventstore.Position{TransactionID: tx, GlobalPosition: p.GlobalPosition, LSN: p.LSN}, nil
}
