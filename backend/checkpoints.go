package backend

import (
	"context"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// CheckpointFuncs is a projection.CheckpointStore made of a backend's
// functions, its parked events and its projection versions, for the value its Processors method
// returns (so that the store's own method set stays free of checkpoint
// methods). Every field is required.
type CheckpointFuncs struct {
	LockFunc   func(ctx context.Context, processorID string) (projection.Lock, error)
	ReadFunc   func(ctx context.Context, processorID string) (eventstore.Position, bool, error)
	CommitFunc func(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, projection.Tx) error) error
	// ParkedEvents keeps the events processors park, beside the
	// checkpoints: its Park and Unpark write in the transactions CommitFunc
	// runs.
	projection.ParkedEvents
	// VersionStore records the versions of projections, beside the
	// checkpoints: its methods that take a Tx run in the transactions
	// CommitFunc runs.
	projection.VersionStore
}

var _ projection.CheckpointStore = CheckpointFuncs{}

// Lock implements projection.CheckpointStore with LockFunc.
func (c CheckpointFuncs) Lock(ctx context.Context, processorID string) (projection.Lock, error) {
	return c.LockFunc(ctx, processorID)
}

// ReadCheckpoint implements projection.CheckpointStore with ReadFunc.
func (c CheckpointFuncs) ReadCheckpoint(ctx context.Context, processorID string) (eventstore.Position, bool, error) {
	return c.ReadFunc(ctx, processorID)
}

// Commit implements projection.CheckpointStore with CommitFunc.
func (c CheckpointFuncs) Commit(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, projection.Tx) error) error {
	return c.CommitFunc(ctx, processorID, from, to, fn)
}
