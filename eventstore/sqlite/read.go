package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
)

const (
	// pageSize is the most events one read query fetches. A reader runs
	// one query per page and holds no cursor while the caller's loop body
	// runs.
	pageSize = 1000
	// pageBytes ends a page early once its events hold this much data, so
	// that a page of large events stays small too.
	pageBytes = 4 << 20
)

const eventColumns = `stream_position, global_position, message_id, message_type, message_data, message_metadata, created, message_schema_version`

const (
	readStreamSQL = `SELECT ` + eventColumns + ` FROM emt_messages
WHERE stream_id = ? AND partition = ? AND is_archived = 0 AND stream_position BETWEEN ? AND ?
ORDER BY stream_position LIMIT ?`
	readAllSQL = `SELECT ` + eventColumns + `, stream_id FROM emt_messages
WHERE global_position > ? AND is_archived = 0
ORDER BY global_position LIMIT ?`
	readAllInSQL = `SELECT ` + eventColumns + `, stream_id FROM emt_messages
WHERE global_position > ? AND partition = ? AND is_archived = 0
ORDER BY global_position LIMIT ?`
)

// readStmts are the read statements, prepared on the readers pool (each
// is then prepared once per connection as it is used).
type readStmts struct {
	stream, version, all, allIn *sql.Stmt
}

func (r *readStmts) prepare(ctx context.Context, p preparer) error {
	for _, q := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.stream, readStreamSQL},
		{&r.version, streamVersionSQL},
		{&r.all, readAllSQL},
		{&r.allIn, readAllInSQL},
	} {
		stmt, err := p.PrepareContext(ctx, q.sql)
		if err != nil {
			return fmt.Errorf("sqlite: preparing %q: %w", firstWords(q.sql), err)
		}
		*q.stmt = stmt
	}
	return nil
}

func (r *readStmts) close() {
	for _, st := range []*sql.Stmt{r.stream, r.version, r.all, r.allIn} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// beginRead checks that the store is open.
func (s *Store) beginRead() error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return nil
}

func (s *Store) readError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return fmt.Errorf("sqlite: reading events: %w", err)
}

// StreamVersion implements eventstore.StreamReader.
func (s *Store) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	o := backend.ResolveRead(opts...)
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return 0, false, err
	}
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if err := s.beginRead(); err != nil {
		return 0, false, err
	}
	var v int64
	err := s.rd.version.QueryRowContext(ctx, stream, o.Partition).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, s.readError(ctx, err)
	}
	return v, v > 0, nil
}

// ReadStream implements eventstore.StreamReader. It reads the stream a page
// at a time, each page its own short query, so memory stays bounded and no
// read transaction stays open while the loop body runs.
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
		from, to := o.From, o.To
		if to <= 0 {
			to = math.MaxInt64
		}
		var buf []emmett.RecordedEvent
		s.paged(ctx, o.MaxCount, yield, func(limit int64) ([]emmett.RecordedEvent, bool, error) {
			if from > to {
				return nil, false, nil
			}
			var more bool
			var err error
			buf, more, err = s.page(ctx, s.rd.stream, stream, buf[:0], stream, o.Partition, from, to, limit)
			if n := len(buf); n > 0 {
				from = buf[n-1].StreamPosition + 1
			}
			return buf, more, err
		})
	}
}

// ReadAll implements eventstore.GlobalReader. Positions are global
// positions (TransactionID is 0): SQLite's single writer commits them in
// order, so a reader never sees a position before a smaller one.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return instrument.ReadAll(ctx, s.tel, s, after, opts, (*Store).readAll)
}

func (s *Store) readAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	o := backend.ResolveReadAll(opts...)
	return func(yield func(emmett.RecordedEvent, error) bool) {
		next := max(after.GlobalPosition, 0)
		var buf []emmett.RecordedEvent
		s.paged(ctx, o.MaxCount, yield, func(limit int64) ([]emmett.RecordedEvent, bool, error) {
			var more bool
			var err error
			if o.Partition == "" {
				buf, more, err = s.page(ctx, s.rd.all, "", buf[:0], next, limit)
			} else {
				buf, more, err = s.page(ctx, s.rd.allIn, "", buf[:0], next, o.Partition, limit)
			}
			if n := len(buf); n > 0 {
				next = buf[n-1].GlobalPosition
			}
			return buf, more, err
		})
	}
}

// paged drives a paged read: it fetches pages of at most pageSize events
// (fewer to honour maxCount) and yields their events until the reader has
// no more, maxCount is reached, the caller stops or an error ends it.
func (s *Store) paged(ctx context.Context, maxCount int64, yield func(emmett.RecordedEvent, error) bool, fetch func(limit int64) ([]emmett.RecordedEvent, bool, error)) {
	remaining := maxCount // 0 or less: no bound
	for {
		if err := ctx.Err(); err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		limit := int64(pageSize)
		if remaining > 0 {
			limit = min(limit, remaining)
		}
		page, more, err := fetch(limit)
		if err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		for i := range page {
			if !yield(page[i], nil) {
				return
			}
		}
		if !more || len(page) == 0 {
			return
		}
		if remaining > 0 {
			if remaining -= int64(len(page)); remaining <= 0 {
				return
			}
		}
	}
}

// page runs one page query and appends its events to buf. stream is the
// stream name of every row, or "" when the query selects stream_id last.
// The last argument is the LIMIT. more reports whether rows may follow.
func (s *Store) page(ctx context.Context, stmt *sql.Stmt, stream string, buf []emmett.RecordedEvent, args ...any) (_ []emmett.RecordedEvent, more bool, err error) {
	if err := s.beginRead(); err != nil {
		return buf, false, err
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return buf, false, s.readError(ctx, err)
	}
	defer rows.Close()

	var (
		sp, gp          int64
		id, typ, sid    string
		data            []byte
		md, createdText sql.RawBytes
		version         sql.RawBytes
		size            int
	)
	dest := []any{&sp, &gp, &id, &typ, &data, &md, &createdText, &version}
	if stream == "" {
		dest = append(dest, &sid)
	}
	limit := args[len(args)-1].(int64)
	n := int64(0)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return buf, false, s.readError(ctx, err)
		}
		if buf == nil && limit < pageSize {
			// A bounded read (a projector's batch): room for all of it
			// at once rather than growing to it.
			buf = make([]emmett.RecordedEvent, 0, limit)
		}
		buf = append(buf, emmett.RecordedEvent{
			MessageID:      id,
			Type:           typ,
			Data:           data,
			StreamName:     stream,
			StreamPosition: sp,
			GlobalPosition: gp,
		})
		e := &buf[len(buf)-1]
		data = nil // the next row gets its own slice
		if stream == "" {
			e.StreamName = sid
		}
		if e.Created, err = parseCreated(createdText); err != nil {
			return buf[:len(buf)-1], false, fmt.Errorf("sqlite: event %d: %w", gp, err)
		}
		if e.SchemaVersion, err = backend.ParseSchemaVersion(version); err != nil {
			return buf[:len(buf)-1], false, fmt.Errorf("sqlite: event %d: %w", gp, err)
		}
		if err := backend.DecodeMetadata(md, &e.Metadata); err != nil {
			return buf[:len(buf)-1], false, fmt.Errorf("sqlite: event %d: decoding metadata: %w", gp, err)
		}
		n++
		if size += len(e.Data) + len(md); size >= pageBytes {
			return buf, true, nil
		}
	}
	if err := rows.Err(); err != nil {
		return buf, false, s.readError(ctx, err)
	}
	return buf, n == limit, nil
}
