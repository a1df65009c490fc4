package postgres

import (
	"context"
	"errors"
	"iter"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
)

const (
	// headSQL walks the (transaction_id, global_position) index back from
	// its end to the last event ReadAll returns now.
	headSQL = `SELECT transaction_id, global_position FROM emt_messages
WHERE is_archived = FALSE AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, global_position DESC
LIMIT 1`
	headInSQL = `SELECT transaction_id, global_position FROM emt_messages
WHERE partition = $1 AND is_archived = FALSE AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id DESC, global_position DESC
LIMIT 1`
	countSQL = `SELECT count(*) FROM emt_messages
WHERE is_archived = FALSE
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND (transaction_id, global_position) <= ($3::xid8, $4::bigint)`
	countInSQL = `SELECT count(*) FROM emt_messages
WHERE partition = $5 AND is_archived = FALSE
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND (transaction_id, global_position) <= ($3::xid8, $4::bigint)`
	// eventAtSQL finds an event by its global position, archived or not.
	eventAtSQL = `SELECT transaction_id FROM emt_messages WHERE global_position = $1 LIMIT 1`
)

var (
	_ backend.Log        = (*Store)(nil)
	_ projection.Counter = (*Store)(nil)
)

// Head implements backend.Log: the position of the last event ReadAll
// returns now (the zero Position when there is none), every partition
// included. As ReadAll, it first waits (up to WithReadAllWait) for the
// transactions open when it was called, so that it is at or after every
// append that returned before it.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	return s.head(ctx, "")
}

func (s *Store) head(ctx context.Context, partition string) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	if s.closed.Load() {
		return eventstore.Position{}, eventstore.ErrClosed
	}
	if err := s.waitForOpenTransactions(ctx); err != nil {
		return eventstore.Position{}, s.readError(ctx, "reading the head of the log", err)
	}
	var row pgx.Row
	if partition == "" {
		row = s.pool.QueryRow(ctx, headSQL)
	} else {
		row = s.pool.QueryRow(ctx, headInSQL, partition)
	}
	var p eventstore.Position
	err := row.Scan(&p.TransactionID, &p.GlobalPosition)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.Position{}, nil
	case err != nil:
		return eventstore.Position{}, s.readError(ctx, "reading the head of the log", err)
	}
	return p, nil
}

// ResolvePosition implements eventstore.PositionResolver: a bare global
// position ("42") gets the transaction id of its event, which ReadAll
// orders by first, so that it means that event (as a bare number, it
// would sort before every event). It reads the event by its global
// position, with the index Emmett for Go's migration 0002 adds.
func (s *Store) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	return backend.ResolvePosition(ctx, p, func(ctx context.Context, global int64) (uint64, bool, error) {
		if s.closed.Load() {
			return 0, false, eventstore.ErrClosed
		}
		var tx uint64
		err := s.pool.QueryRow(ctx, eventAtSQL, global).Scan(&tx)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return 0, false, nil
		case err != nil:
			return 0, false, s.readError(ctx, "resolving position "+p.String(), err)
		}
		return tx, true, nil
	})
}

// Count implements projection.Counter: the exact number of events after
// after and up to upTo in ReadAll's order, every partition included.
// Rebuilds report their progress against it.
func (s *Store) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	return s.countEvents(ctx, "", after, upTo)
}

func (s *Store) countEvents(ctx context.Context, partition string, after, upTo eventstore.Position) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	args := []any{after.TransactionID, after.GlobalPosition, upTo.TransactionID, upTo.GlobalPosition}
	query := countSQL
	if partition != "" {
		query, args = countInSQL, append(args, partition)
	}
	var n int64
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, s.readError(ctx, "counting events", err)
	}
	return n, nil
}

// Source returns a polling source over the store's global log for
// processors (projection.NewProjectionProcessor and NewReactorProcessor):
// it reads batches of events (projection.PollBatchSize) after the
// processor's checkpoint with ReadAll (so in (transaction_id,
// global_position) order, never skipping an event that commits late) and,
// once caught up, waits (projection.PollInterval) before polling again,
// unless woken. Every append through this store wakes it right after its
// commit; with WithListen, so do the notifications of other processes'
// stores (WithNotify). Other appends (AppendToStreamTx, whose commit the
// store does not see, other processes without LISTEN/NOTIFY) are seen at
// the next poll.
//
// With projection.PollPartition, the source reads that partition only, and
// its head and counts are the partition's.
//
// Behind a transaction-mode pooler (WithPooler) the store does not LISTEN,
// even with WithListen, as a LISTEN lives in a session: its sources poll,
// and say so once in the store's log (WithLogger).
//
// Where logical replication is available, its source (package
// eventstore/postgres/replication) delivers transactions as they commit,
// without polling.
func (s *Store) Source(opts ...projection.PollOption) projection.Source {
	cfg := backend.ResolvePoll(opts...)
	if cfg.Wake == nil {
		cfg.Wake = s.appended.wait
		switch {
		case s.cfg.pooler:
			s.notePolling()
		case s.cfg.listen:
			s.startListener()
		}
	}
	var log backend.Log = s
	if cfg.Partition != "" {
		log = partitionLog{s, cfg.Partition}
	}
	return backend.NewPollingSource(log, cfg)
}

// startListener starts, once, the goroutine that keeps a connection
// listening on emt_messages and wakes the store's pollers on every
// notification, until Close.
func (s *Store) startListener() {
	s.listener.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.listener.cancel = cancel
		s.listener.done = make(chan struct{})
		go func() {
			defer close(s.listener.done)
			s.listenLoop(ctx, "", s.appended.notify)
		}()
	})
}

// stopListener stops the listener, if it runs, and waits for it.
func (s *Store) stopListener() {
	s.listener.once.Do(func() {}) // none may start from now on
	if s.listener.cancel != nil {
		s.listener.cancel()
		<-s.listener.done
	}
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
	return p.s.head(ctx, p.partition)
}

func (p partitionLog) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	return p.s.countEvents(ctx, p.partition, after, upTo)
}
