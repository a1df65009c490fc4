package projection

import (
	"context"
	"errors"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// Batch is a run of events from a Source, and the position to checkpoint
// once they are applied.
type Batch struct {
	// Events are in the source's order; possibly none, when the source only
	// moves the checkpoint (past events of no interest, or an idle
	// replication slot).
	Events []emmett.RecordedEvent
	// End is where a processor resumes after this batch.
	End eventstore.Position
}

// Source feeds a processor from a store's global log.
type Source interface {
	// Subscribe calls handle with the batches after position after, in
	// order, and keeps waiting for new ones once caught up, until ctx ends
	// (it then returns ctx's error) or handle fails (it returns that
	// error). handle is called from one goroutine at a time.
	Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, Batch) error) error
	// Head returns the position a processor must reach to have applied
	// every event appended so far.
	Head(ctx context.Context) (eventstore.Position, error)
	// Target returns the position a processor must reach to have applied
	// an append that returned appended: the same position for sources that
	// read in log order, or the source's own ordering of it (a WAL position
	// for logical replication).
	Target(ctx context.Context, appended eventstore.Position) (eventstore.Position, error)
}

// Pipeliner is implemented by sources that let a processor return from
// handle before it has committed the batch: once handle returns, such a
// source does nothing with the batch but read the next one after its End
// (a polling source, which reads the log after the position it is
// given), and the context it passes to handle lives as long as
// Subscribe. A projector on a source whose Pipelined returns true applies
// a batch on a goroutine of its own while the source reads the next one
// and the processor decodes it, so that reading and decoding overlap the
// transaction. Nothing after a batch that fails is applied: the
// processor waits for a batch's commit before it applies the next, ends
// the subscription when one fails, and resumes from its stored
// checkpoint. Sources that act on a batch once handle returns (logical
// replication confirms it to the server) must not be Pipeliners.
type Pipeliner interface {
	// Pipelined reports whether a processor may apply batches after
	// handle returned.
	Pipelined() bool
}

// ProcessorTargeter is implemented by sources whose targets depend on the
// processor that follows them (logical replication, a slot per
// processor). WaitFor on a processor whose readers read another version
// of its projection (one being built, or replaced) asks it for the target
// of that version's processor.
type ProcessorTargeter interface {
	// TargetFor returns what Target returns, for the source of the
	// processor processorID.
	TargetFor(ctx context.Context, processorID string, appended eventstore.Position) (eventstore.Position, error)
}

// Counter is implemented by sources that can count the events between two
// positions; rebuilds use it to report their total.
type Counter interface {
	// Count returns the number of events after position after, up to and
	// including position upTo, in the source's order.
	Count(ctx context.Context, after, upTo eventstore.Position) (int64, error)
}

// TimeSeeker is implemented by sources that can find where the events
// stored from a point in time begin; a processor started with
// StartFromTime needs one. The stores' polling feeds and PostgreSQL's
// logical replication feed are TimeSeekers.
type TimeSeeker interface {
	// PositionAt returns the position to start after to process every
	// event stored at t or later: the position just before the first
	// event, in the source's order, whose Created is not before t; the
	// head of the source when there is none. A processor starting after
	// it also processes the events that follow that first one, whenever
	// they were stored.
	PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error)
}

// PollOption configures a store's polling feed (its Source method).
type PollOption func(*PollConfig)

// PollConfig is what a list of PollOption sets; backends resolve it with
// backend.ResolvePoll.
type PollConfig struct {
	// BatchSize is the most events per batch; 500 when 0.
	BatchSize int
	// Interval is how long an idle source waits before polling again; it
	// polls at once when woken. 1s when 0.
	Interval time.Duration
	// Partition restricts the feed to one partition ("" for all).
	Partition string
	// ReadAhead makes the polling feed a Pipeliner: stores set it when
	// reading the log does not wait for a processor's open transaction
	// (SQLite with reader connections of its own).
	ReadAhead bool
	// Wake, when set, returns a channel that is closed when new events
	// may have been appended (an in-process signal, or a LISTEN). Stores
	// set it to their own signal.
	Wake func() <-chan struct{}
}

// PollBatchSize makes a polling feed read at most n events per batch
// (500 by default).
func PollBatchSize(n int) PollOption { return func(c *PollConfig) { c.BatchSize = n } }

// PollInterval makes an idle polling feed poll again after d (1s by
// default); an append through the same store wakes it at once.
func PollInterval(d time.Duration) PollOption { return func(c *PollConfig) { c.Interval = d } }

// PollPartition restricts a polling feed to the events of one partition;
// its head and counts are then the partition's.
func PollPartition(name string) PollOption { return func(c *PollConfig) { c.Partition = name } }

// ErrCheckpointMoved is returned by CheckpointStore.Commit when the stored
// checkpoint is not where the processor left it: another instance moved it.
var ErrCheckpointMoved = errors.New("projection: processor checkpoint moved by another instance")

// ErrLockLost cuts short the work of a processor whose lock was lost (its
// lease expired, or its database session ended); nothing it did after is
// committed. Processor.Run then waits for the lock again.
var ErrLockLost = errors.New("projection: processor lock lost")

// CheckpointStore keeps processors' checkpoints, locks and parked events,
// and the versions of projections, and runs their transactions. Store
// backends implement it over emt_processors, emt_parked_messages and
// emt_projections.
type CheckpointStore interface {
	ParkedEvents
	VersionStore
	// Lock blocks until this instance holds the processor's lock (one
	// instance per processor runs at a time), or ctx ends.
	Lock(ctx context.Context, processorID string) (Lock, error)
	// ReadCheckpoint returns the processor's stored checkpoint, and whether
	// there is one.
	ReadCheckpoint(ctx context.Context, processorID string) (eventstore.Position, bool, error)
	// Commit runs fn in a transaction that also moves the checkpoint from
	// from to to (a missing checkpoint counts as the zero Position). If the
	// stored checkpoint is not from, nothing is committed and the error
	// matches ErrCheckpointMoved. fn may be nil.
	Commit(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, Tx) error) error
}

// Lock is a held processor lock.
type Lock interface {
	// Lost is closed if the lock is lost while held.
	Lost() <-chan struct{}
	// Release gives the lock up.
	Release(ctx context.Context) error
}
