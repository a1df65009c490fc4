package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5"
)

// appendSQL calls the append function; one row comes back.
const appendSQL = `SELECT success, stream_version, created_stream, transaction_id, global_positions, created
FROM emt_go_append_to_stream($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// unknownStreamType is the stream type Emmett for Node records for a stream
// name without a type prefix.
const unknownStreamType = "emt:unknown"

// streamType is the stream type recorded in emt_streams, as Emmett for Node
// 0.42 derives it: the part of the name before its first '-', or
// "emt:unknown" when there is no such part ("a-b-c" is "a"; "abc" and "-abc"
// are "emt:unknown").
func streamType(stream string) string {
	if i := strings.IndexByte(stream, '-'); i > 0 {
		return stream[:i]
	}
	return unknownStreamType
}

// appendCall is one prepared append: its arguments and what it needs to
// build the result.
type appendCall struct {
	stream    string
	partition string
	expected  eventstore.ExpectedVersion
	prepared  []eventstore.PreparedEvent
	metadata  []emmett.Metadata
	ids       []string
	args      []any
}

func (s *Store) newAppendCall(stream string, events []eventstore.EventData, opts []eventstore.AppendOption) (*appendCall, error) {
	o := eventstore.NewAppendOptions(opts...)
	prepared, err := eventstore.Prepare(stream, events, s.cfg.maxEventBytes)
	if err != nil {
		return nil, err
	}
	if err := validatePartition(o.Partition); err != nil {
		return nil, err
	}
	c := &appendCall{stream: stream, partition: o.Partition, expected: o.ExpectedVersion, prepared: prepared}
	n := len(prepared)
	c.ids = make([]string, n)
	types := make([]string, n)
	data := make([][]byte, n)
	metadata := make([][]byte, n)
	c.metadata = make([]emmett.Metadata, n)
	for i, p := range prepared {
		c.ids[i], types[i], data[i], metadata[i] = p.MessageID, p.Type, p.Data, p.MetadataJSON
		if !p.Metadata.IsZero() {
			// What is read back is what the JSON holds: the result carries
			// the same, and no reference to the caller's maps.
			if err := json.Unmarshal(p.MetadataJSON, &c.metadata[i]); err != nil {
				return nil, &eventstore.InvalidEventError{Index: i, Type: p.Type, Reason: "metadata: " + err.Error(), Err: err}
			}
		}
	}
	c.args = []any{stream, o.Partition, streamType(stream), o.ExpectedVersion.SQL(), c.ids, types, data, metadata, s.cfg.notify}
	return c, nil
}

// appendRow is the append function's result.
type appendRow struct {
	success   bool
	version   int64
	created   bool
	txID      *uint64 // NULL on a conflict, as are positions and at
	positions []int64
	at        *time.Time
}

func (r *appendRow) targets() []any {
	return []any{&r.success, &r.version, &r.created, &r.txID, &r.positions, &r.at}
}

// result turns the function's row into the append's result or its conflict.
func (c *appendCall) result(r *appendRow) (eventstore.AppendResult, error) {
	if !r.success {
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: c.stream, Expected: c.expected, Actual: r.version}
	}
	if len(r.positions) != len(c.prepared) {
		return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: %d global positions for %d events", c.stream, len(r.positions), len(c.prepared))
	}
	if r.txID == nil || r.at == nil {
		return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: the append function returned no transaction id or time", c.stream)
	}
	first := r.version - int64(len(c.prepared))
	at := r.at.UTC()
	recorded := make([]emmett.RecordedEvent, len(c.prepared))
	for i, p := range c.prepared {
		recorded[i] = emmett.RecordedEvent{
			MessageID:      p.MessageID,
			Type:           p.Type,
			Data:           p.Data,
			Metadata:       c.metadata[i],
			StreamName:     c.stream,
			StreamPosition: first + int64(i) + 1,
			GlobalPosition: r.positions[i],
			TransactionID:  *r.txID,
			Created:        at,
		}
	}
	return eventstore.AppendResult{
		NextExpectedVersion: r.version,
		Created:             r.created,
		Position:            eventstore.PositionOf(recorded[len(recorded)-1]),
		Events:              recorded,
	}, nil
}

// AppendToStream implements eventstore.Appender.
//
// Without BeforeCommit hooks, an append is one statement in its own
// transaction: one round trip. The expected version is checked in the
// database before anything is written, and a conflict returns an
// *eventstore.VersionConflictError with the stream's actual version.
//
// An error says what is known: an error matching eventstore.ErrOutcomeUnknown
// (an *OutcomeUnknownError) when the connection was lost after the append
// was sent and before its commit was confirmed; otherwise nothing was
// stored.
func (s *Store) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	c, err := s.newAppendCall(stream, events, opts)
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
	if len(s.cfg.beforeCommit) > 0 {
		run = s.appendInNewTx
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
		}
		return eventstore.AppendResult{}, err
	}
}

// appendOnce runs the append function as a statement of its own: the
// statement is the transaction, so the commit is confirmed with its result.
func (s *Store) appendOnce(ctx context.Context, c *appendCall) (eventstore.AppendResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: %w", c.stream, ctx.Err())
		}
		return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: connecting: %w", c.stream, err)
	}
	defer conn.Release()
	var row appendRow
	received := false
	rows, err := conn.Query(ctx, appendSQL, c.args...)
	if err == nil {
		if rows.Next() {
			received = true
			err = rows.Scan(row.targets()...)
		}
		rows.Close()
		if rerr := rows.Err(); rerr != nil {
			err = rerr
		} else if err == nil && !received {
			err = errors.New("the append function returned no row")
		}
	}
	if err != nil {
		if isRetryable(err) || isMissingPartition(err) {
			return eventstore.AppendResult{}, err
		}
		// The commit happens after the row is sent: an error after it
		// leaves the outcome open.
		return eventstore.AppendResult{}, wrapAppendError(ctx, err, outcome(err, received), c.stream, c.partition, c.ids)
	}
	return c.result(&row)
}

// appendInNewTx runs the append and the hooks in a transaction of its own.
func (s *Store) appendInNewTx(ctx context.Context, c *appendCall) (eventstore.AppendResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: %w", c.stream, ctx.Err())
		}
		return eventstore.AppendResult{}, fmt.Errorf("postgres: append to stream %q: beginning a transaction: %w", c.stream, err)
	}
	res, err := s.appendInTx(ctx, tx, c)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if isRetryable(err) || isMissingPartition(err) || errors.Is(err, eventstore.ErrVersionConflict) {
			return eventstore.AppendResult{}, err
		}
		return eventstore.AppendResult{}, wrapAppendError(ctx, err, notWritten, c.stream, c.partition, c.ids)
	}
	if err := tx.Commit(ctx); err != nil {
		return eventstore.AppendResult{}, wrapAppendError(ctx, err, outcome(err, true), c.stream, c.partition, c.ids)
	}
	return res, nil
}

// appendInTx is the append inside a transaction: the append function, then
// the BeforeCommit hooks with the recorded events. It does not commit. This
// is where inline projections hook in.
func (s *Store) appendInTx(ctx context.Context, tx pgx.Tx, c *appendCall) (eventstore.AppendResult, error) {
	var row appendRow
	if err := tx.QueryRow(ctx, appendSQL, c.args...).Scan(row.targets()...); err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := c.result(&row)
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
	c, err := s.newAppendCall(stream, events, opts)
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
