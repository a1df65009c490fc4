package projection

import (
	"context"
	"time"

	"github.com/emmett-go/emmett/eventstore"
)

// ProcessorState is a processor's row in its store (emt_processors on the
// SQL stores): where it is, and who runs it.
type ProcessorState struct {
	// ID is the processor's id.
	ID string
	// Partition is the partition of the processor's row.
	Partition string
	// Status is "running" while an instance holds the processor's lock,
	// "stopped" otherwise (stores may keep other values of Emmett for
	// Node's).
	Status string
	// Instance is the id of the instance holding the lock, or
	// "emt:unknown" ("" when the store does not record it).
	Instance string
	// Checkpoint is the position of the last event processed, zero when
	// none was.
	Checkpoint eventstore.Position
	// Updated is when the row last changed (a checkpoint, or the lock's
	// heartbeat), by the store's clock; zero when the store does not
	// record it.
	Updated time.Time
}

// ProcessorLister is implemented by the stores that list their processors
// (an operations console shows them).
type ProcessorLister interface {
	// ListProcessors returns every processor's state, by id.
	ListProcessors(ctx context.Context) ([]ProcessorState, error)
}

// GroupLister is implemented by the Memberships that list their groups
// (the stores' Membership()): an operations console shows every group's
// live instances.
type GroupLister interface {
	// Groups returns the groups that have a live instance, sorted.
	Groups(ctx context.Context) ([]string, error)
}
