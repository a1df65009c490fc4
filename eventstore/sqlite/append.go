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

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/projection"
)

// maxInsertRows is the most events one INSERT statement writes; longer
// appends take several statements in the same transaction. 64 rows make
// 260 parameters, far below SQLite's limit on every build.
const maxInsertRows = 64

// The expected version is checked by the statement that moves the stream's
// version, in its WHERE clause, so that a stale expectation changes nothing
// (0 rows affected) even if anything else wrote in between; nothing relies
// on a read made earlier in Go. These are plain statements whose outcome is
// the number of rows they changed: a RETURNING clause costs SQLite a
// temporary table per execution, more than the rest of the statement.
const (
	// moveStreamSQL moves an existing stream from version ?4 to ?1.
	moveStreamSQL = `UPDATE emt_streams SET stream_position = ?1
WHERE stream_id = ?2 AND partition = ?3 AND is_archived = 0 AND stream_position = ?4`
	// createStreamSQL creates a stream at version ?2; it changes nothing
	// when the stream exists with events. (A stream row at version 0,
	// which this package never writes, counts as no stream.)
	createStreamSQL = `INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
VALUES (?1, ?2, ?3, ?4, '{}', 0)
ON CONFLICT (stream_id, partition, is_archived) DO UPDATE SET stream_position = excluded.stream_position
WHERE stream_position = 0`
	// growStreamSQL moves an existing stream (one with events) on by ?1,
	// whatever its version.
	growStreamSQL = `UPDATE emt_streams SET stream_position = stream_position + ?1
WHERE stream_id = ?2 AND partition = ?3 AND is_archived = 0 AND stream_position > 0`
	streamVersionSQL = `SELECT stream_position FROM emt_streams WHERE stream_id = ? AND partition = ? AND is_archived = 0`
	// lockSQL changes nothing, but takes the database's write lock (with
	// the busy timeout) when it is a transaction's first statement.
	lockSQL = `UPDATE emt_streams SET stream_position = stream_position WHERE 0`
)

// insertMessagesSQL returns the INSERT of n events. What all the events of
// an append share is bound once: ?1 stream, ?2 partition, ?3 created, ?4
// the version before the append; each row adds its id, type, data,
// metadata and schema version. Kind and archived flag are constants.
func insertMessagesSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO emt_messages (stream_id, stream_position, partition, message_id, message_type, message_data, message_metadata, created, message_kind, message_schema_version, is_archived) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `(?1,?4+%d,?2,?,?,?,?,?3,'E',?,0)`, i+1)
	}
	return b.String()
}

// writer runs the appends, one at a time: the semaphore serializes them in
// Go (so that an append waits in Go, cancellable, not in SQLite's busy
// loop), and each runs in a transaction of the writer pool.
type writer struct {
	sem chan struct{}
	db  *sql.DB

	move, create, grow, version, lock *sql.Stmt
	// immediate is whether the pool's transactions hold the write lock
	// from BEGIN (see newStore). Otherwise (New: the driver's default may
	// be DEFERRED) a transaction that may read before it writes starts
	// with lock; an append needs not, its first statement writes.
	immediate bool
	// inserts holds the INSERT of each row count, prepared when first
	// needed, always before the transaction starts: a pool of one
	// connection cannot prepare while its transaction holds it.
	inserts [maxInsertRows + 1]*sql.Stmt

	args []any // reused parameter buffer, guarded by sem
}

func (w *writer) prepare(ctx context.Context) (err error) {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&w.move, moveStreamSQL}, {&w.create, createStreamSQL}, {&w.grow, growStreamSQL}, {&w.version, streamVersionSQL}, {&w.lock, lockSQL}} {
		if *p.stmt, err = w.db.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("sqlite: preparing %q: %w", firstWords(p.sql), err)
		}
	}
	return nil
}

func (w *writer) close() {
	for _, st := range append([]*sql.Stmt{w.move, w.create, w.grow, w.version, w.lock}, w.inserts[:]...) {
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

// prepareInserts makes sure the INSERTs an append of n events needs are
// prepared.
func (w *writer) prepareInserts(ctx context.Context, n int) error {
	for _, k := range [2]int{min(n, maxInsertRows), n % maxInsertRows} {
		if k == 0 || w.inserts[k] != nil {
			continue
		}
		st, err := w.db.PrepareContext(ctx, insertMessagesSQL(k))
		if err != nil {
			return err
		}
		w.inserts[k] = st
	}
	return nil
}

// AppendToStream implements eventstore.Appender. The events are validated
// before the database is touched; the expected version is checked, and the
// stream row and every event written, in one transaction.
func (s *Store) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return instrument.Append(ctx, s.tel, s, stream, events, opts, (*Store).appendToStream)
}

func (s *Store) appendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	o := backend.ResolveAppend(opts...)
	prepared, err := backend.Prepare(ctx, stream, events, o, s.cfg.maxEventBytes)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// The recorded events are built before the lock: they own a copy of
	// the data (bound from that copy, so the caller may reuse its buffers)
	// and the metadata as it reads back (through its JSON, as every
	// backend does).
	recorded := make([]emmett.RecordedEvent, len(prepared))
	for i := range prepared {
		p := &prepared[i]
		r := &recorded[i]
		r.MessageID, r.Type, r.StreamName, r.SchemaVersion = p.MessageID, p.Type, stream, p.SchemaVersion
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

	res, err := s.appendGrouped(&groupAppend{ctx: ctx, stream: stream, o: o, prepared: prepared, recorded: recorded, done: make(chan struct{})})
	if err != nil && (errors.Is(err, eventstore.ErrVersionConflict) || isConstraint(err)) && backend.CanRepeat(events, o) {
		// A repeat of an append stored already: its result.
		stored, lerr := s.storedByID(ctx, stream, o.Partition, backend.MessageIDs(prepared))
		if lerr != nil {
			return eventstore.AppendResult{}, lerr
		}
		if dup, found, derr := backend.ResolveDuplicate(stream, prepared, stored); found {
			return dup, derr
		}
	}
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	s.notify.publish(res.Position.GlobalPosition)
	return res, nil
}

// appendTx is the append inside its transaction, everything but the
// COMMIT: it moves the stream's version under the expected version's
// condition, inserts the events (filling in their positions and created
// time in recorded), then runs the BeforeCommit hooks with the result. This
// is where inline projections hook in.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, w *writer, stream string, o eventstore.AppendOptions, prepared []backend.PreparedEvent, recorded []emmett.RecordedEvent, created time.Time) (eventstore.AppendResult, error) {
	if err := s.insertEvents(ctx, tx, w, stream, o, prepared, recorded, created); err != nil {
		return eventstore.AppendResult{}, err
	}
	last := recorded[len(recorded)-1]
	res := eventstore.AppendResult{
		NextExpectedVersion: last.StreamPosition,
		Created:             last.StreamPosition == int64(len(recorded)),
		Position:            eventstore.PositionOf(last),
		Events:              recorded,
	}
	for _, hook := range s.cfg.beforeCommit {
		if err := hook(ctx, tx, o.Partition, res); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return eventstore.AppendResult{}, cerr
			}
			var perr *projection.Error
			if errors.As(err, &perr) { // an inline projection's: it says which
				return eventstore.AppendResult{}, fmt.Errorf("sqlite: append to stream %q: %w", stream, err)
			}
			return eventstore.AppendResult{}, fmt.Errorf("sqlite: append to stream %q: before-commit hook: %w", stream, err)
		}
	}
	// The last point where a cancelled ctx stops the append for certain.
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	return res, nil
}

// insertEvents moves the stream's version, then inserts the events.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, w *writer, stream string, o eventstore.AppendOptions, prepared []backend.PreparedEvent, events []emmett.RecordedEvent, created time.Time) error {
	partition := o.Partition
	start, err := s.moveStream(ctx, tx, w, stream, partition, o.ExpectedVersion, int64(len(prepared)))
	if err != nil {
		return err
	}

	var buf [len(createdLayout)]byte
	createdText := string(appendCreated(buf[:0], created))
	args := w.args
	defer func() {
		clear(args)
		w.args = args[:0]
	}()
	for off := 0; off < len(prepared); off += maxInsertRows {
		k := min(maxInsertRows, len(prepared)-off)
		args = append(args[:0], stream, partition, createdText, start+int64(off))
		for i := off; i < off+k; i++ {
			p := &prepared[i]
			md := emptyMetadataArg
			if len(p.MetadataJSON) != 2 || string(p.MetadataJSON) != "{}" {
				md = bytesString(p.MetadataJSON)
			}
			// Data is bound as TEXT, so that SQLite's JSON functions
			// read it. The bytes are the recorded event's own copy,
			// which nothing changes, and the driver copies them.
			args = append(args, p.MessageID, p.Type, bytesString(events[i].Data), md, backend.SchemaVersionText(p.SchemaVersion))
		}
		res, err := tx.StmtContext(ctx, w.inserts[k]).ExecContext(ctx, args...)
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

// moveStream checks the expected version and moves the stream's version on
// by n, creating the stream if needed; it returns the version before the
// append. An exact version (or no stream) takes one statement, whose WHERE
// clause is the check. Any and StreamExists move an existing stream on
// first, then read where it got to; Any creates the stream when there was
// none to move. Either way the transaction's first statement writes, so
// it holds the write lock before it reads anything, whether the driver
// began it IMMEDIATE or DEFERRED: SQLite refuses (SQLITE_BUSY, at once) to
// upgrade a DEFERRED transaction that read to a writing one while another
// connection writes.
func (s *Store) moveStream(ctx context.Context, tx *sql.Tx, w *writer, stream, partition string, expected eventstore.ExpectedVersion, n int64) (int64, error) {
	from, exact := expected.Exact()
	if expected.IsNoStream() {
		from, exact = 0, true
	}
	if !exact {
		return s.growStream(ctx, tx, w, stream, partition, expected, n)
	}
	var res sql.Result
	var err error
	if from == 0 {
		res, err = tx.StmtContext(ctx, w.create).ExecContext(ctx, stream, n, partition, eventstore.StreamType(stream))
	} else {
		res, err = tx.StmtContext(ctx, w.move).ExecContext(ctx, from+n, stream, partition, from)
	}
	if err != nil {
		return 0, s.writeError(ctx, stream, "moving the stream version", err)
	}
	if changed, err := res.RowsAffected(); err != nil || changed == 0 {
		return 0, s.versionConflict(ctx, tx, w, stream, partition, expected, err)
	}
	return from, nil
}

// growStream moves the stream on by n for an expected version that is not
// exact (Any or StreamExists).
func (s *Store) growStream(ctx context.Context, tx *sql.Tx, w *writer, stream, partition string, expected eventstore.ExpectedVersion, n int64) (int64, error) {
	res, err := tx.StmtContext(ctx, w.grow).ExecContext(ctx, n, stream, partition)
	if err != nil {
		return 0, s.writeError(ctx, stream, "moving the stream version", err)
	}
	changed, err := res.RowsAffected()
	switch {
	case err != nil:
		return 0, s.writeError(ctx, stream, "moving the stream version", err)
	case changed > 0:
		now, err := s.versionIn(ctx, tx, w, stream, partition)
		if err != nil {
			return 0, err
		}
		return now - n, nil
	case !expected.Matches(0):
		return 0, s.versionConflict(ctx, tx, w, stream, partition, expected, nil)
	}
	res, err = tx.StmtContext(ctx, w.create).ExecContext(ctx, stream, n, partition, eventstore.StreamType(stream))
	if err != nil {
		return 0, s.writeError(ctx, stream, "moving the stream version", err)
	}
	if changed, err := res.RowsAffected(); err != nil || changed == 0 {
		return 0, s.versionConflict(ctx, tx, w, stream, partition, expected, err)
	}
	return 0, nil
}

// versionConflict is the error of an append whose statement changed no
// row (or err, if RowsAffected failed): a VersionConflictError with the
// stream's version.
func (s *Store) versionConflict(ctx context.Context, tx *sql.Tx, w *writer, stream, partition string, expected eventstore.ExpectedVersion, err error) error {
	if err != nil {
		return s.writeError(ctx, stream, "moving the stream version", err)
	}
	actual, err := s.versionIn(ctx, tx, w, stream, partition)
	if err != nil {
		return err
	}
	return &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: actual}
}

// versionIn reads a stream's version inside the append's transaction.
func (s *Store) versionIn(ctx context.Context, tx *sql.Tx, w *writer, stream, partition string) (int64, error) {
	var v int64
	err := tx.StmtContext(ctx, w.version).QueryRowContext(ctx, stream, partition).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, s.writeError(ctx, stream, "reading the stream version", err)
	}
	return v, nil
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

// storedByID returns the events of the stream with the given message ids,
// in stream order.
func (s *Store) storedByID(ctx context.Context, stream, partition string, ids []string) ([]emmett.RecordedEvent, error) {
	if err := s.beginRead(); err != nil {
		return nil, err
	}
	q := `SELECT ` + eventColumns + ` FROM emt_messages WHERE stream_id = ? AND partition = ? AND is_archived = 0
AND message_id IN (SELECT value FROM json_each(?)) ORDER BY stream_position LIMIT ?`
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	stmt, err := s.readers.PrepareContext(ctx, q)
	if err != nil {
		return nil, s.readError(ctx, err)
	}
	defer stmt.Close()
	events, _, err := s.page(ctx, stmt, stream, nil, stream, partition, string(idsJSON), int64(len(ids)))
	return events, err
}
