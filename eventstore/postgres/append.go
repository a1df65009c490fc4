package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres/internal/pgrows"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// appendCall is one prepared append: its statement, its arguments and what
// it needs to build the result.
type appendCall struct {
	stream    string
	partition string
	expected  eventstore.ExpectedVersion
	prepared  []backend.PreparedEvent
	// repeatable: the append can repeat one stored (backend.CanRepeat).
	repeatable bool
	metadata   []emmett.Metadata
	ids        []string
	sql        string
	// upsert is the statement that runs when sql returns no row and that
	// is no conflict: with any expected version, when another transaction
	// created the stream meanwhile (see append_sql.go); empty otherwise.
	upsert string
	args   []any

	// Room for a one-event append's ids and arguments, and for the
	// result's event: one allocation for the call's slices.
	id1   [1]string
	args1 [9]any
}

func (s *Store) newAppendCall(ctx context.Context, stream string, events []eventstore.EventData, opts []eventstore.AppendOption) (*appendCall, error) {
	o := backend.ResolveAppend(opts...)
	prepared, err := backend.Prepare(ctx, stream, events, o, s.cfg.maxEventBytes)
	if err != nil {
		return nil, err
	}
	if err := validatePartition(o.Partition); err != nil {
		return nil, err
	}
	c := &appendCall{stream: stream, partition: o.Partition, expected: o.ExpectedVersion, prepared: prepared,
		repeatable: backend.CanRepeat(events, o)}
	n := len(prepared)
	if n == 1 {
		c.ids = c.id1[:]
	} else {
		c.ids = make([]string, n)
	}
	for i, p := range prepared {
		c.ids[i] = p.MessageID
		if !p.Metadata.IsZero() {
			if c.metadata == nil { // none when no event has metadata
				c.metadata = make([]emmett.Metadata, n)
			}
			// What is read back is what the JSON holds: the result carries
			// the same, and no reference to the caller's maps.
			if err := json.Unmarshal(p.MetadataJSON, &c.metadata[i]); err != nil {
				return nil, &eventstore.InvalidEventError{Index: i, Type: p.Type, Reason: "metadata: " + err.Error(), Err: err}
			}
		}
	}
	c.args = append(c.args1[:0], stream, o.Partition, int64(n))
	if n == 1 {
		p := prepared[0]
		c.args = append(c.args, p.MessageID, p.Type, p.Data, p.MetadataJSON, backend.SchemaVersionText(p.SchemaVersion))
	} else {
		types := make([]string, n)
		data := make([][]byte, n)
		metadata := make([][]byte, n)
		versions := make([]string, n)
		for i, p := range prepared {
			types[i], data[i], metadata[i], versions[i] = p.Type, p.Data, p.MetadataJSON, backend.SchemaVersionText(p.SchemaVersion)
		}
		c.args = append(c.args, c.ids, types, data, metadata, versions)
	}
	var kind appendKind
	switch v, exact := o.ExpectedVersion.Exact(); {
	case o.ExpectedVersion.IsNoStream() || (exact && v == 0):
		kind = appendNew
		c.args = append(c.args, eventstore.StreamType(stream))
	case o.ExpectedVersion.IsStreamExists():
		kind = appendExisting
	case exact:
		kind = appendExact
		c.args = append(c.args, v)
	default:
		kind = appendAny
		c.args = append(c.args, eventstore.StreamType(stream))
	}
	key := appendStatementKey{kind: kind, multi: n > 1, notify: s.cfg.notify}
	c.sql = appendStatements[key]
	if kind == appendAny {
		key.kind = appendAnyUpsert
		c.upsert = appendStatements[key]
	}
	return c, nil
}

// appendRows collects the rows an append statement returns, one per event;
// none is a version conflict.
type appendRows struct {
	n         int
	positions []int64 // by stream position
	first     int64   // the first event's stream position
	txID      uint64
	at        time.Time
	first2    [2]int64 // room for one event's positions
}

// The types of the columns an append returns (stream_position,
// global_position, transaction_id, created), each 8 bytes in binary form.
var appendColumnTypes = [4]uint32{pgtype.Int8OID, pgtype.Int8OID, pgtype.XID8OID, pgtype.TimestamptzOID}

// pgEpoch is timestamptz's zero, in Unix microseconds.
const pgEpoch = 946_684_800 * 1_000_000

func (r *appendRows) scan(rows pgx.Rows) error {
	var sp, gp int64
	if !r.scanBinary(rows.FieldDescriptions(), rows.RawValues(), &sp, &gp) {
		if err := rows.Scan(&sp, &gp, &r.txID, &r.at); err != nil {
			return err
		}
	}
	if r.n == 0 || sp < r.first {
		r.first = sp
	}
	if r.positions == nil {
		r.positions = r.first2[:0]
	}
	r.positions = append(r.positions, sp, gp)
	r.n++
	return nil
}

// scanBinary reads a row in the binary form pgx asks for, without setting
// up pgx's scan plans for each statement; false for any other form (a
// pool whose type map says otherwise), which rows.Scan reads.
func (r *appendRows) scanBinary(fields []pgconn.FieldDescription, values [][]byte, sp, gp *int64) bool {
	if len(fields) != len(appendColumnTypes) || len(values) != len(appendColumnTypes) {
		return false
	}
	for i, oid := range appendColumnTypes {
		if fields[i].DataTypeOID != oid || fields[i].Format != pgx.BinaryFormatCode || len(values[i]) != 8 {
			return false
		}
	}
	created := int64(binary.BigEndian.Uint64(values[3]))
	if created < 0 || created == math.MaxInt64 { // before 2000, or infinity: pgx's way
		return false
	}
	*sp = int64(binary.BigEndian.Uint64(values[0]))
	*gp = int64(binary.BigEndian.Uint64(values[1]))
	r.txID = binary.BigEndian.Uint64(values[2])
	created += pgEpoch
	r.at = time.Unix(created/1_000_000, created%1_000_000*1000)
	return true
}

// result turns the statement's rows into the append's result.
func (c *appendCall) result(r *appendRows) (eventstore.AppendResult, error) {
	n := len(c.prepared)
	if r.n != n {
		return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: %d rows for %d events", c.stream, r.n, n)
	}
	var globals []int64
	if n == 1 {
		globals = r.positions[1:2]
	} else {
		globals = make([]int64, n)
		for i := 0; i < len(r.positions); i += 2 {
			idx := r.positions[i] - r.first
			if idx < 0 || idx >= int64(n) {
				return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: unexpected stream position %d", c.stream, r.positions[i])
			}
			globals[idx] = r.positions[i+1]
		}
	}
	before := r.first - 1
	at := r.at.UTC()
	recorded := make([]emmett.RecordedEvent, n)
	for i, p := range c.prepared {
		var md emmett.Metadata
		if c.metadata != nil {
			md = c.metadata[i]
		}
		recorded[i] = emmett.RecordedEvent{
			MessageID:      p.MessageID,
			Type:           p.Type,
			Data:           p.Data,
			SchemaVersion:  p.SchemaVersion,
			Metadata:       md,
			StreamName:     c.stream,
			StreamPosition: before + int64(i) + 1,
			GlobalPosition: globals[i],
			TransactionID:  r.txID,
			Created:        at,
		}
	}
	return eventstore.AppendResult{
		NextExpectedVersion: before + int64(n),
		Created:             before == 0,
		Position:            eventstore.PositionOf(recorded[n-1]),
		Events:              recorded,
	}, nil
}

// q is what runs a query: a connection or a transaction.
type q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// run runs the append's statement on db and collects its rows into r.
// When it returns none and the append has an upsert (any expected version,
// and the stream was created meanwhile), the upsert runs: the first
// statement wrote nothing.
func (c *appendCall) run(ctx context.Context, db q, r *appendRows) error {
	if err := r.query(ctx, db, c.sql, c.args); err != nil || r.n > 0 || c.upsert == "" {
		return err
	}
	return r.query(ctx, db, c.upsert, c.args)
}

// query runs one append statement and collects its rows.
func (r *appendRows) query(ctx context.Context, db q, sql string, args []any) error {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	return r.collect(rows)
}

// collect collects an append statement's rows, and closes them.
func (r *appendRows) collect(rows pgx.Rows) error {
	var err error
	for rows.Next() {
		if err = r.scan(rows); err != nil {
			break
		}
	}
	rows.Close()
	if rerr := rows.Err(); rerr != nil {
		err = rerr
	}
	return err
}

// conflict builds the error of an append that found the stream at another
// version. The version is read anew: the append's own statement may not
// have seen the append that won.
func (c *appendCall) conflict(ctx context.Context, db q) error {
	var actual int64
	err := db.QueryRow(ctx, streamVersionSQL, c.stream, c.partition).Scan(&actual)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: append to stream %q: version conflict (expected %s), then reading its version: %w", c.stream, c.expected, err)
	}
	return &eventstore.VersionConflictError{Stream: c.stream, Expected: c.expected, Actual: actual}
}

// AppendToStream implements eventstore.Appender.
//
// Without BeforeCommit hooks, an append is one statement in its own
// transaction: one round trip. The expected version is checked in the
// database before anything is written, and a conflict returns an
// *eventstore.VersionConflictError with the stream's actual version.
//
// Appends whose inline projections run in their transaction, and that
// wait for a connection of the pool, may share one transaction (its id is
// in their events' TransactionID): each is stored, or not, as it would be
// alone, and gets its own result (see append_group.go).
//
// An error says what is known: an error matching eventstore.ErrOutcomeUnknown
// (an *OutcomeUnknownError) when the connection was lost after the append
// was sent and before its commit was confirmed; otherwise nothing was
// stored.
func (s *Store) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return instrument.Append(ctx, s.tel, s, stream, events, opts, (*Store).appendToStream)
}

func (s *Store) appendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	c, err := s.newAppendCall(ctx, stream, events, opts)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	run := s.appendOnce
	if s.cfg.inTx(c.prepared) {
		run = s.appendInGroup
	}
	const attempts = 3
	createdPartition := false
	for attempt := 1; ; attempt++ {
		res, err := run(ctx, c)
		switch {
		case err == nil:
			s.appended.notify()
			return res, nil
		case isRetryable(err) && attempt < attempts:
			// A serialization failure (the stream was archived meanwhile)
			// or a deadlock rolled everything back: try again.
			continue
		case isMissingPartition(err) && s.cfg.autoCreatePartitions && !createdPartition:
			if perr := s.AddPartition(ctx, c.partition); perr != nil {
				return eventstore.AppendResult{}, perr
			}
			createdPartition = true
			continue
		case isMissingPartition(err):
			return eventstore.AppendResult{}, &PartitionNotFoundError{Partition: c.partition, Err: err}
		case (errors.Is(err, eventstore.ErrVersionConflict) || isUniqueViolation(err)) && c.repeatable:
			// A repeat of an append stored already: its result.
			stored, lerr := s.storedByID(ctx, c)
			if lerr != nil {
				return eventstore.AppendResult{}, lerr
			}
			if dup, found, derr := backend.ResolveDuplicate(stream, c.prepared, stored); found {
				return dup, derr
			}
		}
		return eventstore.AppendResult{}, err
	}
}

// appendOnce runs the append function as a statement of its own: the
// statement is the transaction, so the commit is confirmed with its result.
func (s *Store) appendOnce(ctx context.Context, c *appendCall) (eventstore.AppendResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return eventstore.AppendResult{}, c.startError(ctx, "connecting", err)
	}
	defer conn.Release()
	var res appendRows
	if err := c.run(ctx, conn, &res); err != nil {
		if isRetryable(err) || isMissingPartition(err) {
			return eventstore.AppendResult{}, err
		}
		// The commit happens after the rows are sent: an error after them
		// leaves the outcome open.
		return eventstore.AppendResult{}, wrapAppendError(ctx, err, outcome(err, res.n > 0), c.stream, c.partition, c.ids)
	}
	if res.n == 0 {
		return eventstore.AppendResult{}, c.conflict(ctx, conn)
	}
	return c.result(&res)
}

// startError is the error of an append that could not start (nothing was
// sent, so nothing was stored).
func (c *appendCall) startError(ctx context.Context, doing string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("postgres: append to stream %q: %w", c.stream, ctx.Err())
	}
	return fmt.Errorf("postgres: append to stream %q: %s, nothing was stored: %w", c.stream, doing, markUnavailable(err))
}

// appendInNewTx runs the append and the hooks in a transaction of its own.
// BEGIN, the append and the reads of the documents the inline projections
// will read go in one batch (see prefetch.go); the inline projections'
// document writes are sent with the COMMIT, in one round trip (see
// deferWrites); the connection goes back to the pool once the transaction
// is over.
func (s *Store) appendInNewTx(ctx context.Context, c *appendCall) (eventstore.AppendResult, error) {
	reads, _ := s.prefetchPlan(c)
	return s.appendInNewTxOn(ctx, nil, c, reads)
}

// appendInNewTxOn is appendInNewTx with c's prefetch plan, first on conn
// when it is not nil (it releases it).
func (s *Store) appendInNewTxOn(ctx context.Context, conn *pgxpool.Conn, c *appendCall, reads []prefetchRead) (eventstore.AppendResult, error) {
	for {
		res, again, err := s.appendInNewTxOnce(ctx, conn, c, reads)
		if !again {
			return res, err
		}
		conn = nil
		reads, _ = s.prefetchPlan(c) // without the collections forgotten
	}
}

// appendInNewTxOnce is appendInNewTx on one connection, conn or one it
// acquires when conn is nil; again reports that a collection it read from
// was dropped behind the store's back, and is forgotten: the append is to
// be sent again (creating the collection where a projection writes to
// it), on a connection acquired anew.
func (s *Store) appendInNewTxOnce(ctx context.Context, conn *pgxpool.Conn, c *appendCall, reads []prefetchRead) (_ eventstore.AppendResult, again bool, _ error) {
	var err error
	if conn == nil {
		if conn, err = s.pool.Acquire(ctx); err != nil {
			return eventstore.AppendResult{}, false, c.startError(ctx, "connecting", err)
		}
	}
	defer conn.Release()
	var docs map[docKey]prefetchedDoc
	var rows appendRows
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(c.sql, c.args...).Query(rows.collect)
	if len(reads) > 0 {
		docs = make(map[docKey]prefetchedDoc)
		queuePrefetch(b, reads, docs)
	}
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	err = br.Close()
	begun := conn.Conn().PgConn().TxStatus() != 'I'
	if err != nil && len(reads) > 0 && isUndefinedTable(err) {
		// A collection was dropped behind the store's back (the batch's
		// statements are prepared first: nothing ran): forget it, and
		// append again, creating it where a projection writes to it.
		if begun {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
		for _, rd := range reads {
			s.docs.forget(rd.collection)
		}
		return eventstore.AppendResult{}, true, nil
	}
	if err != nil && !begun && !conn.Conn().IsClosed() {
		// BEGIN did not run: nothing did.
		return eventstore.AppendResult{}, false, c.startError(ctx, "beginning a transaction", err)
	}
	// The hooks' document writes tell st what they created, to register
	// once the transaction commits.
	st := &txState{tx: tx}
	htx := s.deferWrites(st)
	st.docs.prefetched = docs
	var res eventstore.AppendResult
	if err == nil && rows.n == 0 && c.upsert != "" {
		err = rows.query(ctx, tx, c.upsert, c.args)
	}
	if err == nil {
		res, err = s.afterAppend(context.WithValue(ctx, txStateKey{}, st), htx, c, &rows)
	}
	if err != nil {
		if st.docs.err != nil { // a queued write failed, failing the statements after it
			err = st.docs.err
		}
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if isRetryable(err) || isMissingPartition(err) || errors.Is(err, eventstore.ErrVersionConflict) {
			return eventstore.AppendResult{}, false, err
		}
		return eventstore.AppendResult{}, false, wrapAppendError(ctx, err, notWritten, c.stream, c.partition, c.ids)
	}
	if written, err := st.commit(ctx, htx); err != nil {
		if isRetryable(err) { // a queued document write found a concurrent one: nothing was stored
			return eventstore.AppendResult{}, false, err
		}
		return eventstore.AppendResult{}, false, wrapAppendError(ctx, err, written, c.stream, c.partition, c.ids)
	}
	s.docs.commit(st)
	return res, false, nil
}

// appendInTx is the append inside a transaction: the append function, then
// the BeforeCommit hooks with the recorded events. It does not commit. This
// is where inline projections hook in.
func (s *Store) appendInTx(ctx context.Context, tx pgx.Tx, c *appendCall) (eventstore.AppendResult, error) {
	var rows appendRows
	if err := c.run(ctx, tx, &rows); err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.afterAppend(ctx, tx, c, &rows)
}

// afterAppend is what follows the append's statement in its transaction:
// the conflict, or the result and the BeforeCommit hooks.
func (s *Store) afterAppend(ctx context.Context, tx pgx.Tx, c *appendCall, rows *appendRows) (eventstore.AppendResult, error) {
	if rows.n == 0 {
		return eventstore.AppendResult{}, c.conflict(ctx, tx)
	}
	res, err := c.result(rows)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	for _, hook := range s.cfg.beforeCommit {
		if err := hook(ctx, tx, c.partition, res); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: before-commit hook: %w", c.stream, err)
		}
	}
	return res, nil
}

// AppendToStreamTx appends inside a transaction the caller owns, and runs
// the BeforeCommit hooks in it; the caller commits (or rolls back). The
// events are stored if and only if the transaction commits; until then
// ReadAll and pollers do not see them. Use it to append together with other
// writes of the application (an outbox, a read model).
//
// A version conflict writes nothing and leaves the transaction usable; any
// other error leaves it aborted: roll it back.
func (s *Store) AppendToStreamTx(ctx context.Context, tx pgx.Tx, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return instrument.Append(ctx, s.tel, txAppender{s, tx}, stream, events, opts, txAppender.appendToStream)
}

// txAppender is an append in a caller's transaction, for instrument.Append.
type txAppender struct {
	s  *Store
	tx pgx.Tx
}

func (a txAppender) appendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	s, tx := a.s, a.tx
	c, err := s.newAppendCall(ctx, stream, events, opts)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	res, err := s.appendInTx(ctx, tx, c)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, eventstore.ErrVersionConflict):
		return eventstore.AppendResult{}, err
	case isMissingPartition(err):
		return eventstore.AppendResult{}, &PartitionNotFoundError{Partition: c.partition, Err: err}
	}
	return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: %w", stream, err)
}

const storedByIDSQL = `SELECT stream_position, global_position, transaction_id, created, message_id, message_type, message_data, message_metadata, message_schema_version
FROM emt_messages
WHERE stream_id = $1 AND partition = $2 AND is_archived = FALSE AND message_id = ANY($3::text[])
ORDER BY stream_position`

// storedByID returns the events of the append's stream with its message
// ids, in stream order.
func (s *Store) storedByID(ctx context.Context, c *appendCall) ([]emmett.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, storedByIDSQL, c.stream, c.partition, c.ids)
	if err != nil {
		return nil, s.readError(ctx, "reading the events of a repeated append", err)
	}
	events, err := pgrows.ScanStreamEvents(rows, c.stream, nil)
	if err != nil {
		return nil, s.readError(ctx, "reading the events of a repeated append", err)
	}
	return events, nil
}
