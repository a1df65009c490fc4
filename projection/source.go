package projection

import (
	"context"
	"errors"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"go.opentelemetry.io/otel/trace"
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

// Counter is implemented by sources that can count the events between two
// positions; rebuilds use it to report their total.
type Counter interface {
	// Count returns the number of events after position after, up to and
	// including position upTo, in the source's order.
	Count(ctx context.Context, after, upTo eventstore.Position) (int64, error)
}

// Log is what a PollingSource reads: a store's global log and its head.
type Log interface {
	eventstore.GlobalReader
	// Head returns the position of the last event a ReadAll returns now
	// (the zero Position when there is none).
	Head(ctx context.Context) (eventstore.Position, error)
}

// PollingOptions configures a PollingSource.
type PollingOptions struct {
	// BatchSize is the most events per batch; 500 when 0.
	BatchSize int
	// Interval is how long an idle source waits before polling again; it
	// polls at once when woken. 1s when 0.
	Interval time.Duration
	// Wake, when set, returns a channel that is closed when new events
	// may have been appended (an in-process signal, or a LISTEN).
	Wake func() <-chan struct{}
	// Partition restricts the feed to one partition ("" for all).
	Partition string
}

// PollingSource is a Source that reads the global log in batches and, when
// caught up, waits to be woken or for its interval.
type PollingSource struct {
	log  Log
	opts PollingOptions
}

// NewPollingSource returns a source polling log.
func NewPollingSource(log Log, opts PollingOptions) *PollingSource {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	return &PollingSource{log: log, opts: opts}
}

var _ Source = (*PollingSource)(nil)

// Subscribe implements Source.
func (s *PollingSource) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, Batch) error) error {
	readOpts := []eventstore.ReadOption{eventstore.MaxCount(int64(s.opts.BatchSize))}
	if s.opts.Partition != "" {
		readOpts = append(readOpts, eventstore.InPartition(s.opts.Partition))
	}
	batch := make([]emmett.RecordedEvent, 0, s.opts.BatchSize)
	// Polls are not traced: under a long-lived span (a live HTTP stream)
	// each would be a span of its own. Their time is measured all the
	// same, and each batch is traced by whoever handles it.
	readCtx := trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	for {
		// Take the wake channel before reading, so that an append after
		// the read wakes the wait below.
		var wake <-chan struct{}
		if s.opts.Wake != nil {
			wake = s.opts.Wake()
		}
		batch = batch[:0]
		for e, err := range s.log.ReadAll(readCtx, after, readOpts...) {
			if err != nil {
				return err
			}
			batch = append(batch, e)
		}
		if len(batch) > 0 {
			end := eventstore.PositionOf(batch[len(batch)-1])
			if err := handle(ctx, Batch{Events: batch, End: end}); err != nil {
				return err
			}
			after = end
			if len(batch) == s.opts.BatchSize {
				continue
			}
		}
		timer := time.NewTimer(s.opts.Interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Head implements Source.
func (s *PollingSource) Head(ctx context.Context) (eventstore.Position, error) {
	return s.log.Head(ctx)
}

// Target implements Source: a polling source reads in log order.
func (s *PollingSource) Target(_ context.Context, appended eventstore.Position) (eventstore.Position, error) {
	return appended, nil
}

// Count implements Counter when the log does; otherwise it counts by
// reading.
func (s *PollingSource) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	if c, ok := s.log.(Counter); ok {
		return c.Count(ctx, after, upTo)
	}
	var n int64
	for e, err := range s.log.ReadAll(ctx, after) {
		if err != nil {
			return 0, err
		}
		if eventstore.PositionOf(e).Compare(upTo) > 0 {
			break
		}
		n++
	}
	return n, nil
}

// ErrCheckpointMoved is returned by CheckpointStore.Commit when the stored
// checkpoint is not where the processor left it: another instance moved it.
var ErrCheckpointMoved = errors.New("projection: processor checkpoint moved by another instance")

// ErrLockLost cuts short the work of a processor whose lock was lost (its
// lease expired, or its database session ended); nothing it did after is
// committed. Processor.Run then waits for the lock again.
var ErrLockLost = errors.New("projection: processor lock lost")

// CheckpointStore keeps processors' checkpoints and locks, and runs their
// transactions. Store backends implement it over emt_processors.
type CheckpointStore interface {
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
