package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"iter"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

const (
	// headSQL walks the log back from its end to the last event ReadAll
	// returns.
	headSQL   = `SELECT global_position FROM emt_messages WHERE is_archived = 0 ORDER BY global_position DESC LIMIT 1`
	headInSQL = `SELECT global_position FROM emt_messages WHERE partition = ? AND is_archived = 0 ORDER BY global_position DESC LIMIT 1`
	countSQL  = `SELECT count(*) FROM emt_messages WHERE global_position > ? AND global_position <= ? AND is_archived = 0`
	// countInSQL and headInSQL use the (partition, global_position) index.
	countInSQL = `SELECT count(*) FROM emt_messages WHERE partition = ? AND global_position > ? AND global_position <= ? AND is_archived = 0`
	// eventAtSQL finds an event by its global position, archived or not.
	eventAtSQL = `SELECT 1 FROM emt_messages WHERE global_position = ?`
)

var (
	_ backend.Log        = (*Store)(nil)
	_ projection.Counter = (*Store)(nil)
)

// Head implements backend.Log: the position of the last event in the
// global log (the zero Position when it is empty), every partition
// included.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	return s.head(ctx, s.ps.head)
}

func (s *Store) head(ctx context.Context, stmt *sql.Stmt, args ...any) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	if err := s.beginRead(); err != nil {
		return eventstore.Position{}, err
	}
	var gp int64
	err := stmt.QueryRowContext(ctx, args...).Scan(&gp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventstore.Position{}, nil
	case err != nil:
		return eventstore.Position{}, s.readError(ctx, err)
	}
	return eventstore.Position{GlobalPosition: gp}, nil
}

// ResolvePosition implements eventstore.PositionResolver. Positions are
// global positions: it checks that an event is at p's.
func (s *Store) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	return backend.ResolvePosition(ctx, p, func(ctx context.Context, global int64) (uint64, bool, error) {
		if err := s.beginRead(); err != nil {
			return 0, false, err
		}
		var one int
		err := s.readers.QueryRowContext(ctx, eventAtSQL, global).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return 0, false, nil
		case err != nil:
			return 0, false, s.readError(ctx, err)
		}
		return 0, true, nil
	})
}

// Count implements projection.Counter: the exact number of events after
// after and up to upTo, every partition included. Rebuilds report their
// progress against it.
func (s *Store) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	return s.countEvents(ctx, s.ps.count, after.GlobalPosition, upTo.GlobalPosition)
}

func (s *Store) countEvents(ctx context.Context, stmt *sql.Stmt, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.beginRead(); err != nil {
		return 0, err
	}
	var n int64
	if err := stmt.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return 0, s.readError(ctx, err)
	}
	return n, nil
}

// Source returns a polling source over the store's global log for
// processors (projection.NewProjectionProcessor, projection.NewReactorProcessor). It reads
// batches of events (projection.PollBatchSize) after the processor's
// checkpoint and, once caught up, waits (projection.PollInterval) before
// polling again, unless woken: every append of this store wakes it right
// after its commit. Appends of other processes on the same file are seen
// at the next poll.
//
// With projection.PollPartition, the source reads that partition only, and
// its head and counts are the partition's.
func (s *Store) Source(opts ...projection.PollOption) projection.Source {
	cfg := backend.ResolvePoll(opts...)
	if cfg.Wake == nil {
		cfg.Wake = s.wake
	}
	// Reads on connections of their own do not wait for a processor's
	// transaction: a processor reads and decodes a batch while it applies
	// the one before.
	cfg.ReadAhead = s.readers != s.w.db
	var log backend.Log = s
	if cfg.Partition != "" {
		log = partitionLog{s, cfg.Partition}
	}
	return backend.NewPollingSource(log, cfg)
}

// wake returns a channel closed by the next commit of an append.
func (s *Store) wake() <-chan struct{} {
	ch, _ := s.notify.wait()
	return ch
}

// partitionLog is the log of one partition.
type partitionLog struct {
	s         *Store
	partition string
}

func (p partitionLog) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return p.s.ReadAll(ctx, after, append(opts, eventstore.InPartition(p.partition))...)
}

func (p partitionLog) Head(ctx context.Context) (eventstore.Position, error) {
	return p.s.head(ctx, p.s.ps.headIn, p.partition)
}

func (p partitionLog) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	return p.s.countEvents(ctx, p.s.ps.countIn, p.partition, after.GlobalPosition, upTo.GlobalPosition)
}
