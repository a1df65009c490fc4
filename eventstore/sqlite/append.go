package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// maxInsertRows is the most events one INSERT statement writes; longer
// appends take several statements in the same transaction. 64 rows of 8
// parameters stay far below SQLite's parameter limit on every build.
const maxInsertRows = 64

// upsertStreamSQL checks the expected version and moves the stream's
// version in one statement, so there is no read-then-write to race:
//
//   - the SELECT yields the new row only when the stream exists or the
//     expected version allows a new stream (any, no stream, exactly 0);
//   - a new stream is inserted at version ?2 (the number of events);
//   - an existing one is moved on by ?2 only when the expectation (encoded
//     by ExpectedVersion.SQL) holds.
//
// It returns the new version, or no row on a conflict.
const upsertStreamSQL = `INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
SELECT ?1, ?2, ?3, ?4, '{}', 0
 WHERE ?5 IN (-1, -2, 0)
    OR EXISTS (SELECT 1 FROM emt_streams WHERE stream_id = ?1 AND partition = ?3 AND is_archived = 0)
ON CONFLICT (stream_id, partition, is_archived) DO UPDATE
   SET stream_position = stream_position + excluded.stream_position
 WHERE CASE ?5 WHEN -1 THEN 1 WHEN -2 THEN stream_position = 0 WHEN -3 THEN stream_position > 0 ELSE stream_position = ?5 END
RETURNING stream_position`

const streamVersionSQL = `SELECT stream_position FROM emt_streams WHERE stream_id = ? AND partition = ? AND is_archived = 0`

// insertMessagesSQL returns the INSERT of n events. Kind, schema version
// and archived flag are constants of the statement, not parameters.
func insertMessagesSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO emt_messages (stream_id, stream_position, partition, message_id, message_type, message_data, message_metadata, created, message_kind, message_schema_version, is_archived) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?,?,?,?,?,?,?,?,'E','1',0)`)
	}
	return b.String()
}

// writer is the one connection appends run on, and the semaphore that
// serializes them (and, when reads share the connection, the reads too).
type writer struct {
	sem  chan struct{}
	conn *sql.Conn

	begin, commit, rollback *sql.Stmt
	upsert, version         *sql.Stmt
	inserts                 [maxInsertRows + 1]*sql.Stmt // by row count, prepared when first needed

	args []any // reused parameter buffer, guarded by sem
	// dirty is set when a ROLLBACK failed: the connection may still be in
	// a transaction, and the next append rolls back first.
	dirty bool
}

func newWriter(ctx context.Context, conn *sql.Conn) (*writer, error) {
	w := &writer{sem: make(chan struct{}, 1), conn: conn}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
		{&w.rollback, "ROLLBACK"},
		{&w.upsert, upsertStreamSQL},
		{&w.version, streamVersionSQL},
	} {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("sqlite: preparing %q: %w", firstWords(p.sql), err)
		}
		*p.stmt = stmt
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range append([]*sql.Stmt{w.begin, w.commit, w.rollback, w.upsert, w.version}, w.inserts[:]...) {
		if st != nil {
			_ = st.Close()
		}
	}
}

// acquire takes the writer, or gives up when ctx ends first.
func (w *writer) acquire(ctx context.Context) error {
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) release() { <-w.sem }

func (w *writer) insertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if st := w.inserts[n]; st != nil {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, insertMessagesSQL(n))
	if err != nil {
		return nil, err
	}
	w.inserts[n] = st
	return st, nil
}

// end rolls back the open transaction, if any. A failed statement may have
// rolled it back already (SQLite does on an interrupt or a full disk), and
// the "no transaction is active" of the ROLLBACK is then expected.
func (w *writer) end(ctx context.Context) {
	_, err := w.rollback.ExecContext(context.WithoutCancel(ctx))
	w.dirty = err != nil && !strings.Contains(err.Error(), "no transaction is active")
}

// execer is what code running inside an append's transaction gets to run
// its own statements: the writer connection, mid-transaction. *sql.Tx and
// *sql.Conn both implement it (as sqlc's DBTX does).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// appendHook runs inside the write transaction of every append, after the
// events are inserted and before COMMIT: the place for inline projections.
// batch.Events are the recorded events, positions included. An error rolls
// the whole append back and is returned by AppendToStream.
type appendHook func(ctx context.Context, tx execer, batch *appendBatch) error

// appendBatch is one append as the transaction sees it.
type appendBatch struct {
	Stream    string
	Partition string
	// Created reports whether the append created the stream.
	Created bool
	// Events are the recorded events of the append, in order.
	Events []emmett.RecordedEvent
}

// AppendToStream implements eventstore.Appender. The events are validated
// before the database is touched; the expected version is checked, and the
// stream row and every event written, in one transaction.
func (s *Store) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	o := eventstore.NewAppendOptions(opts...)
	prepared, err := eventstore.Prepare(stream, events, s.cfg.maxEventBytes)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// The recorded events are built before the lock: they own a copy of
	// the data (bound from that copy, so the caller may reuse its buffers)
	// and the metadata as it reads back (through its JSON, as every
	// backend does).
	recorded := make([]emmett.RecordedEvent, len(prepared))
	var created time.Time
	for i := range prepared {
		p := &prepared[i]
		r := &recorded[i]
		r.MessageID, r.Type, r.StreamName = p.MessageID, p.Type, stream
		r.Data = append([]byte(nil), p.Data...)
		if !p.Metadata.IsZero() {
			if err := json.Unmarshal(p.MetadataJSON, &r.Metadata); err != nil {
				return eventstore.AppendResult{}, &eventstore.InvalidEventError{Index: i, Type: p.Type, Reason: "metadata does not decode: " + err.Error(), Err: err}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}

	w := s.w
	if err := w.acquire(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.closed.Load() {
		w.release()
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	created = s.cfg.now().UTC().Truncate(time.Microsecond)
	batch := appendBatch{Stream: stream, Partition: o.Partition, Events: recorded}
	err = s.appendLocked(ctx, w, o.ExpectedVersion, prepared, created, &batch)
	w.release()
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	last := recorded[len(recorded)-1]
	s.notify.publish(last.GlobalPosition)
	return eventstore.AppendResult{
		NextExpectedVersion: last.StreamPosition,
		Created:             batch.Created,
		Position:            eventstore.PositionOf(last),
		Events:              recorded,
	}, nil
}

// appendLocked runs the append's transaction; the caller holds the writer.
func (s *Store) appendLocked(ctx context.Context, w *writer, expected eventstore.ExpectedVersion, prepared []eventstore.PreparedEvent, created time.Time, batch *appendBatch) error {
	if w.dirty {
		w.end(ctx)
		if w.dirty {
			return errors.New("sqlite: the writer connection is stuck in a transaction; reopen the store")
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := w.begin.ExecContext(ctx); err != nil {
		return s.writeError(ctx, batch.Stream, "starting the transaction", err)
	}
	if err := s.appendTx(ctx, w, expected, prepared, created, batch); err != nil {
		w.end(ctx)
		return err
	}
	for _, hook := range s.cfg.hooks {
		if err := hook(ctx, w.conn, batch); err != nil {
			w.end(ctx)
			return err
		}
	}
	// The last point where a cancelled context stops the append. Once
	// COMMIT starts it is not interrupted: the append is then stored and
	// reported as such.
	if err := ctx.Err(); err != nil {
		w.end(ctx)
		return err
	}
	if _, err := w.commit.ExecContext(context.WithoutCancel(ctx)); err != nil {
		w.end(ctx)
		return s.writeError(ctx, batch.Stream, "committing", err)
	}
	return nil
}

// appendTx writes one append inside the open transaction: the stream row,
// with the expected version checked by the same statement, then the events.
// It fills in the positions and the created time of batch.Events.
func (s *Store) appendTx(ctx context.Context, w *writer, expected eventstore.ExpectedVersion, prepared []eventstore.PreparedEvent, created time.Time, batch *appendBatch) error {
	n := int64(len(prepared))
	stream, partition := batch.Stream, batch.Partition
	var version int64
	err := w.upsert.QueryRowContext(ctx, stream, n, partition, eventstore.StreamType(stream), expected.SQL()).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		var actual int64
		err := w.version.QueryRowContext(ctx, stream, partition).Scan(&actual)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return s.writeError(ctx, stream, "reading the stream version", err)
		}
		return &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: actual}
	}
	if err != nil {
		return s.writeError(ctx, stream, "updating the stream", err)
	}
	start := version - n // the version before the append
	batch.Created = start == 0

	var buf [len(createdLayout)]byte
	createdArg := any(string(appendCreated(buf[:0], created)))
	streamArg, partitionArg := any(stream), any(partition)
	args := w.args
	defer func() {
		clear(args)
		w.args = args[:0]
	}()
	events := batch.Events
	for off := 0; off < len(prepared); off += maxInsertRows {
		k := min(maxInsertRows, len(prepared)-off)
		stmt, err := w.insertStmt(ctx, k)
		if err != nil {
			return s.writeError(ctx, stream, "preparing the insert", err)
		}
		args = args[:0]
		for i := off; i < off+k; i++ {
			p := &prepared[i]
			md := emptyMetadataArg
			if len(p.MetadataJSON) != 2 || string(p.MetadataJSON) != "{}" {
				md = bytesString(p.MetadataJSON)
			}
			args = append(args, streamArg, start+int64(i)+1, partitionArg, p.MessageID, p.Type,
				// Bound as TEXT, so that SQLite's JSON functions read
				// it; the bytes are the recorded event's own copy, which
				// nothing changes, and the driver copies them.
				bytesString(events[i].Data), md, createdArg)
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return s.writeError(ctx, stream, "inserting events", err)
		}
		lastID, err := res.LastInsertId()
		if err != nil {
			return s.writeError(ctx, stream, "reading positions", err)
		}
		// One writer, one statement: the rows took consecutive positions.
		for i := off; i < off+k; i++ {
			e := &events[i]
			e.StreamPosition = start + int64(i) + 1
			e.GlobalPosition = lastID - int64(off+k-1-i)
			e.Created = created
		}
	}
	return nil
}

// emptyMetadataArg is the boxed "{}" most events carry.
var emptyMetadataArg any = "{}"

// bytesString views b as a string without copying. b must not change while
// the string is in use.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// writeError wraps a database error of an append; when the context ended,
// the context's error is what the caller sees.
func (s *Store) writeError(ctx context.Context, stream, doing string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return fmt.Errorf("sqlite: append to stream %q: %s: %w", stream, doing, err)
}

func firstWords(q string) string {
	if len(q) > 40 {
		return q[:40] + "…"
	}
	return q
}
