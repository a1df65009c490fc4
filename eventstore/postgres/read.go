package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres/internal/pgrows"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/jackc/pgx/v5"
)

const eventColumns = pgrows.EventColumns

const readStreamSQL = `SELECT stream_position, global_position, transaction_id, created, message_id, message_type, message_data, message_metadata, message_schema_version
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

// scanEvents reads the rows of an event query (eventColumns) into recorded
// events.
func scanEvents(rows pgx.Rows, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	return pgrows.ScanEvents(rows, into)
}

// scanStreamEvents reads the rows of a stream read, which leave out the
// stream name.
func scanStreamEvents(rows pgx.Rows, stream string, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	return pgrows.ScanStreamEvents(rows, stream, into)
}

func (s *Store) readError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("postgres: %s: %w (%w)", what, ctxErr, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, markUnavailable(err))
}

// ReadStream implements eventstore.StreamReader. It reads the stream's
// active (not archived) events a page at a time (WithPageSize), holding a
// connection only while it fetches a page; on a long stream, the next page
// is fetched while the caller works through the current one, so at most
// three pages are in memory.
func (s *Store) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return instrument.ReadStream(ctx, s.tel, s, stream, opts, (*Store).readStream)
}

func (s *Store) readStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := backend.ResolveRead(opts...)
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
		s.readPages(ctx, func(ctx context.Context, buf []emmett.RecordedEvent) ([]emmett.RecordedEvent, bool, error) {
			if next > to {
				return buf, false, nil
			}
			limit := int64(s.cfg.pageSize)
			if o.MaxCount > 0 {
				limit = min(limit, o.MaxCount-read)
			}
			rows, err := s.pool.Query(ctx, readStreamSQL, stream, o.Partition, next, to, limit)
			if err == nil {
				buf, err = scanStreamEvents(rows, stream, buf)
			}
			if err != nil {
				return buf, false, s.readError(ctx, fmt.Sprintf("reading stream %q", stream), err)
			}
			read += int64(len(buf))
			if int64(len(buf)) < limit || (o.MaxCount > 0 && read >= o.MaxCount) {
				return buf, false, nil
			}
			next = buf[len(buf)-1].StreamPosition + 1
			return buf, true, nil
		}, yield)
	}
}

// fetchPage fetches the next page of a read into buf and reports whether
// there may be more.
type fetchPage func(ctx context.Context, buf []emmett.RecordedEvent) (page []emmett.RecordedEvent, more bool, err error)

// readPages yields the events of the pages fetch gives. The first page is
// fetched before anything is yielded; when there are more, each next page
// is fetched (by a goroutine) while the caller goes through the one before,
// so a long read does not wait for a round trip per page. At most three
// pages are held: one yielded, one fetched, one being fetched.
func (s *Store) readPages(ctx context.Context, fetch fetchPage, yield func(emmett.RecordedEvent, error) bool) {
	check := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closed.Load() {
			return eventstore.ErrClosed
		}
		return nil
	}
	if err := check(); err != nil {
		yield(emmett.RecordedEvent{}, err)
		return
	}
	page, more, err := fetch(ctx, nil)
	if err != nil {
		yield(emmett.RecordedEvent{}, err)
		return
	}
	if !more { // the common case: one page
		for _, e := range page {
			if !yield(e, nil) {
				return
			}
		}
		return
	}

	type result struct {
		page []emmett.RecordedEvent
		err  error
	}
	results := make(chan result, 1)
	free := make(chan []emmett.RecordedEvent, 1) // a yielded page's buffer, for reuse
	stop := make(chan struct{})
	defer close(stop) // the fetcher stops after its current page, unwaited
	go func() {
		defer close(results)
		for {
			var buf []emmett.RecordedEvent
			select {
			case <-stop:
				return
			case buf = <-free:
			default:
			}
			var r result
			var more bool
			if r.err = check(); r.err == nil {
				r.page, more, r.err = fetch(ctx, buf[:0])
			}
			select {
			case results <- r:
			case <-stop:
				return
			}
			if r.err != nil || !more {
				return
			}
		}
	}()
	for {
		for _, e := range page {
			if !yield(e, nil) {
				return
			}
		}
		select {
		case free <- page:
		default:
		}
		r, ok := <-results
		if !ok {
			return
		}
		if r.err == nil {
			r.err = check() // a page fetched ahead is not yielded after ctx ended
		}
		if r.err != nil {
			yield(emmett.RecordedEvent{}, r.err)
			return
		}
		page = r.page
	}
}

// StreamVersion implements eventstore.StreamReader. An archived stream does
// not exist for it.
func (s *Store) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	o := backend.ResolveRead(opts...)
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
	return instrument.ReadAll(ctx, s.tel, s, after, opts, (*Store).readAll)
}

func (s *Store) readAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := backend.ResolveReadAll(opts...)
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
		s.readPages(ctx, func(ctx context.Context, buf []emmett.RecordedEvent) ([]emmett.RecordedEvent, bool, error) {
			limit := int64(s.cfg.pageSize)
			if o.MaxCount > 0 {
				limit = min(limit, o.MaxCount-read)
			}
			buf, err := s.readAllPage(ctx, after, o.Partition, limit, buf)
			if err != nil {
				return buf, false, err
			}
			read += int64(len(buf))
			if int64(len(buf)) < limit || (o.MaxCount > 0 && read >= o.MaxCount) {
				return buf, false, nil
			}
			after = eventstore.PositionOf(buf[len(buf)-1])
			return buf, true, nil
		}, yield)
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
