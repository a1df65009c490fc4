package backend

import (
	"context"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"go.opentelemetry.io/otel/trace"
)

// Log is what a PollingSource reads: a store's global log and its head.
type Log interface {
	eventstore.GlobalReader
	// Head returns the position of the last event a ReadAll returns now
	// (the zero Position when there is none).
	Head(ctx context.Context) (eventstore.Position, error)
}

// PollingSource is a Source that reads the global log in batches and, when
// caught up, waits to be woken or for its interval.
type PollingSource struct {
	log  Log
	opts projection.PollConfig
}

// ResolvePoll resolves the options of a polling feed, defaults included.
func ResolvePoll(opts ...projection.PollOption) projection.PollConfig {
	var c projection.PollConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	return c
}

// NewPollingSource returns a source polling log, configured by opts (from
// ResolvePoll).
func NewPollingSource(log Log, opts projection.PollConfig) *PollingSource {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	return &PollingSource{log: log, opts: opts}
}

var _ projection.Source = (*PollingSource)(nil)

// Subscribe implements projection.Source.
func (s *PollingSource) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
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
			if err := handle(ctx, projection.Batch{Events: batch, End: end}); err != nil {
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

var _ projection.Pipeliner = (*PollingSource)(nil)

// Pipelined implements projection.Pipeliner: a polling source only reads
// on after a batch it handed over; it lets processors pipeline their
// batches where its store asked for it (PollConfig.ReadAhead).
func (s *PollingSource) Pipelined() bool { return s.opts.ReadAhead }

// Head implements projection.Source.
func (s *PollingSource) Head(ctx context.Context) (eventstore.Position, error) {
	return s.log.Head(ctx)
}

// Target implements projection.Source: a polling source reads in log order.
func (s *PollingSource) Target(_ context.Context, appended eventstore.Position) (eventstore.Position, error) {
	return appended, nil
}

var _ projection.TimeSeeker = (*PollingSource)(nil)

// PositionAt implements projection.TimeSeeker with the log's PositionAt
// when the log is a TimeSeeker; otherwise it reads the log from the start
// up to the first event stored at t or later (when there is none, the
// position of the last event it read is the head).
func (s *PollingSource) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	if ts, ok := s.log.(projection.TimeSeeker); ok {
		return ts.PositionAt(ctx, t)
	}
	var readOpts []eventstore.ReadOption
	if s.opts.Partition != "" {
		readOpts = append(readOpts, eventstore.InPartition(s.opts.Partition))
	}
	var before eventstore.Position
	for e, err := range s.log.ReadAll(ctx, eventstore.Position{}, readOpts...) {
		if err != nil {
			return eventstore.Position{}, err
		}
		if !e.Created.Before(t) {
			return before, nil
		}
		before = eventstore.PositionOf(e)
	}
	return before, nil
}

// Count implements projection.Counter when the log does; otherwise it counts by
// reading.
func (s *PollingSource) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	if c, ok := s.log.(projection.Counter); ok {
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
