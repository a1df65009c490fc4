package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5"
)

const eventColumns = `stream_id, stream_position, global_position, transaction_id, created, message_id, message_type, message_data, message_metadata`

const readStreamSQL = `SELECT ` + eventColumns + `
FROM emt_messages
WHERE stream_id = $1 AND partition = $2 AND is_archived = FALSE
  AND stream_position >= $3 AND stream_position <= $4
ORDER BY stream_position
LIMIT $5`

// The global log is read in (transaction_id, global_position) order, and
// only from transactions older than every transaction still open: one of
// those could still commit events that sort before the ones read.
const (
	readAllSQL = `SELECT ` + eventColumns + `
FROM emt_messages
WHERE is_archived = FALSE
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3`
	readAllInPartitionSQL = `SELECT ` + eventColumns + `
FROM emt_messages
WHERE partition = $4 AND is_archived = FALSE
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY transaction_id, global_position
LIMIT $3`
)

const streamVersionSQL = `SELECT stream_position FROM emt_streams
WHERE stream_id = $1 AND partition = $2 AND is_archived = FALSE`

var emptyJSONObject = []byte("{}")

// scanEvents reads the rows of an event query into recorded events.
func scanEvents(rows pgx.Rows, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	defer rows.Close()
	var metadata []byte
	for rows.Next() {
		var e emmett.RecordedEvent
		if err := rows.Scan(&e.StreamName, &e.StreamPosition, &e.GlobalPosition, &e.TransactionID, &e.Created,
			&e.MessageID, &e.Type, &e.Data, &metadata); err != nil {
			return into, err
		}
		e.Created = e.Created.UTC()
		if len(metadata) > 0 && !bytes.Equal(metadata, emptyJSONObject) {
			if err := json.Unmarshal(metadata, &e.Metadata); err != nil {
				return into, fmt.Errorf("postgres: event %s (stream %q, position %d) has malformed metadata: %w", e.MessageID, e.StreamName, e.StreamPosition, err)
			}
		}
		into = append(into, e)
	}
	return into, rows.Err()
}

func (s *Store) readError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("postgres: %s: %w (%w)", what, ctxErr, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// ReadStream implements eventstore.StreamReader. It reads the stream's
// active (not archived) events a page at a time (WithPageSize), holding a
// connection only while it fetches a page.
func (s *Store) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := eventstore.NewReadOptions(opts...)
	return func(yield func(emmett.RecordedEvent, error) bool) {
		if err := eventstore.ValidateStreamName(stream); err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		if err := validatePartition(o.Partition); err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		to := o.To
		if to <= 0 {
			to = math.MaxInt64
		}
		next, read := o.From, int64(0)
		var page []emmett.RecordedEvent
		for next <= to {
			if err := ctx.Err(); err != nil {
				yield(emmett.RecordedEvent{}, err)
				return
			}
			if s.closed.Load() {
				yield(emmett.RecordedEvent{}, eventstore.ErrClosed)
				return
			}
			limit := int64(s.cfg.pageSize)
			if o.MaxCount > 0 {
				limit = min(limit, o.MaxCount-read)
			}
			rows, err := s.pool.Query(ctx, readStreamSQL, stream, o.Partition, next, to, limit)
			if err == nil {
				page, err = scanEvents(rows, page[:0])
			}
			if err != nil {
				yield(emmett.RecordedEvent{}, s.readError(ctx, fmt.Sprintf("reading stream %q", stream), err))
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if int64(len(page)) < limit {
				return
			}
			read += int64(len(page))
			if o.MaxCount > 0 && read >= o.MaxCount {
				return
			}
			next = page[len(page)-1].StreamPosition + 1
		}
	}
}

// StreamVersion implements eventstore.StreamReader. An archived stream does
// not exist for it.
func (s *Store) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	o := eventstore.NewReadOptions(opts...)
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if s.closed.Load() {
		return 0, false, eventstore.ErrClosed
	}
	var version int64
	err := s.pool.QueryRow(ctx, streamVersionSQL, stream, o.Partition).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, s.readError(ctx, fmt.Sprintf("reading the version of stream %q", stream), err)
	}
	return version, true, nil
}

// ReadAll implements eventstore.GlobalReader: the active events of every
// partition (or of the one InPartition names) after the position, in
// (transaction_id, global_position) order.
//
// It returns only events of transactions older than every transaction still
// open, so a later call never finds an event that sorts before one already
// returned. Before reading, it waits (up to WithReadAllWait) for the
// transactions open when it was called, so that it sees every append that
// had returned before it.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := eventstore.NewReadAllOptions(opts...)
	return func(yield func(emmett.RecordedEvent, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		if o.Partition != "" {
			if err := validatePartition(o.Partition); err != nil {
				yield(emmett.RecordedEvent{}, err)
				return
			}
		}
		if err := s.waitForOpenTransactions(ctx); err != nil {
			yield(emmett.RecordedEvent{}, s.readError(ctx, "reading all events", err))
			return
		}
		read := int64(0)
		var page []emmett.RecordedEvent
		for {
			limit := int64(s.cfg.pageSize)
			if o.MaxCount > 0 {
				limit = min(limit, o.MaxCount-read)
			}
			var err error
			page, err = s.readAllPage(ctx, after, o.Partition, limit, page[:0])
			if err != nil {
				yield(emmett.RecordedEvent{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			read += int64(len(page))
			if int64(len(page)) < limit || (o.MaxCount > 0 && read >= o.MaxCount) {
				return
			}
			after = eventstore.PositionOf(page[len(page)-1])
		}
	}
}

// readAllPage reads up to limit events after a position of the global log.
func (s *Store) readAllPage(ctx context.Context, after eventstore.Position, partition string, limit int64, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return into, err
	}
	if s.closed.Load() {
		return into, eventstore.ErrClosed
	}
	var rows pgx.Rows
	var err error
	if partition == "" {
		rows, err = s.pool.Query(ctx, readAllSQL, after.TransactionID, after.GlobalPosition, limit)
	} else {
		rows, err = s.pool.Query(ctx, readAllInPartitionSQL, after.TransactionID, after.GlobalPosition, limit, partition)
	}
	if err == nil {
		into, err = scanEvents(rows, into)
	}
	if err != nil {
		return into, s.readError(ctx, "reading all events", err)
	}
	return into, nil
}

// waitForOpenTransactions waits, up to readAllWait, until every transaction
// open now has ended.
func (s *Store) waitForOpenTransactions(ctx context.Context) error {
	if s.cfg.readAllWait <= 0 {
		return nil
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	var xmin, xmax uint64
	if err := s.pool.QueryRow(ctx, "SELECT pg_snapshot_xmin(s), pg_snapshot_xmax(s) FROM pg_current_snapshot() AS s").Scan(&xmin, &xmax); err != nil {
		return err
	}
	if xmin >= xmax {
		return nil // nothing open
	}
	deadline := time.Now().Add(s.cfg.readAllWait)
	pause := time.Millisecond
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
		if err := s.pool.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())").Scan(&xmin); err != nil {
			return err
		}
		if xmin >= xmax {
			return nil
		}
	}
	return nil // still open: read what is safe to read
}
