package backend

import (
	"context"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// CheckpointFuncs is a projection.CheckpointStore made of a backend's
// functions, for the value its Processors method returns (so that the
// store's own method set stays free of checkpoint methods).
type CheckpointFuncs struct {
	LockFunc   func(ctx context.Context, processorID string) (projection.Lock, error)
	ReadFunc   func(ctx context.Context, processorID string) (eventstore.Position, bool, error)
	CommitFunc func(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, projection.Tx) error) error
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
