package sqlproc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/projection"
)

// The SQL stores keep the events processors park in emt_parked_messages, a
// table of Emmett for Go's own beside Emmett for Node's, one row per parked
// event: its id, the processor's id, a copy of the event (message_id,
// stream_id, stream_position, global_position, transaction_id,
// message_type, message_data, message_metadata, created), the last
// error's text, the attempts that failed, the times of the first and last
// failures, and when a retry was asked for (NULL when none is). A
// processor parks an event once: (processor_id, message_id) is unique.
const parkedColumns = `id, processor_id, message_id, stream_id, stream_position, global_position, transaction_id,
    message_type, message_data, message_metadata, created, error, attempts, first_failed_at, last_failed_at,
    retry_requested_at IS NOT NULL, message_schema_version`

const (
	parkSQL = `INSERT INTO emt_parked_messages (processor_id, message_id, stream_id, stream_position, global_position,
    transaction_id, message_type, message_data, message_metadata, created, error, attempts, first_failed_at, last_failed_at,
    message_schema_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (processor_id, message_id) DO UPDATE SET attempts = emt_parked_messages.attempts + excluded.attempts,
    error = excluded.error, last_failed_at = excluded.last_failed_at, retry_requested_at = NULL`
	unparkSQL      = `DELETE FROM emt_parked_messages WHERE processor_id = ? AND id = ?`
	unparkAllSQL   = `DELETE FROM emt_parked_messages WHERE processor_id = ?`
	retryFailedSQL = `UPDATE emt_parked_messages SET attempts = attempts + 1, error = ?, last_failed_at = ?, retry_requested_at = NULL
WHERE processor_id = ? AND id = ?`
)

// Rows is what Parked reads rows from: a *sql.Rows or a pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Store is what a SQL store gives ParkedEvents and Versions: how it runs
// statements, and how its driver takes and gives times and JSON.
type Store struct {
	// Backend prefixes errors ("sqlite", "postgres").
	Backend string
	// Dollar is whether placeholders are $1, $2… (PostgreSQL) rather than
	// ? (SQLite).
	Dollar bool
	// Exec runs a statement in a transaction of its own and returns the
	// number of rows it changed.
	Exec func(ctx context.Context, query string, args ...any) (int64, error)
	// ExecIn runs a statement in tx, a transaction of the store's
	// Processors().Commit, and returns the number of rows it changed.
	ExecIn func(ctx context.Context, tx projection.Tx, query string, args ...any) (int64, error)
	// Query runs a query; close releases its rows.
	Query func(ctx context.Context, query string, args ...any) (rows Rows, close func(), err error)
	// QueryIn runs a query in tx, a transaction of the store's
	// Processors().Commit; close releases its rows.
	QueryIn func(ctx context.Context, tx projection.Tx, query string, args ...any) (rows Rows, close func(), err error)
	// InTx runs fn in a transaction of its own, exec running statements
	// in it and returning the number of rows each changed.
	InTx func(ctx context.Context, fn func(exec func(query string, args ...any) (int64, error)) error) error
	// Wrap, when set, makes the error of a statement (matching
	// eventstore.ErrUnavailable when the database could not be reached);
	// by default it is prefixed with Backend and what was being done.
	Wrap func(ctx context.Context, doing string, err error) error
	// Time is the argument of a time; JSON, that of a JSON text.
	Time func(time.Time) any
	JSON func([]byte) any
	// ParseTime reads a time stored as text (SQLite); nil when the
	// driver scans times (PostgreSQL).
	ParseTime func(string) (time.Time, error)
}

// ParkedEvents implements projection.ParkedEvents over emt_parked_messages
// with a Store.
type ParkedEvents struct{ st Store }

// NewParkedEvents returns the parked events of st.
func NewParkedEvents(st Store) *ParkedEvents { return &ParkedEvents{st: st} }

var _ projection.ParkedEvents = (*ParkedEvents)(nil)

// sql returns q in the store's placeholders.
func (st Store) sql(q string) string {
	if !st.Dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *ParkedEvents) notFound(processorID string, id int64) error {
	return fmt.Errorf("%s: processor %q: parked event %d: %w", p.st.Backend, processorID, id, projection.ErrParkedNotFound)
}

func (p *ParkedEvents) fail(ctx context.Context, doing string, err error) error {
	return p.st.fail(ctx, doing, err)
}

func (st Store) fail(ctx context.Context, doing string, err error) error {
	if st.Wrap != nil {
		return st.Wrap(ctx, doing, err)
	}
	return fmt.Errorf("%s: %s: %w", st.Backend, doing, err)
}

// Park implements projection.ParkedEvents.
func (p *ParkedEvents) Park(ctx context.Context, tx projection.Tx, e projection.ParkedEvent) error {
	if e.Processor == "" {
		return p.fail(ctx, "parking an event", errors.New("empty processor id"))
	}
	md := []byte("{}")
	if !e.Event.Metadata.IsZero() {
		var err error
		if md, err = json.Marshal(e.Event.Metadata); err != nil {
			return p.fail(ctx, "parking an event of processor "+e.Processor, err)
		}
	}
	data := e.Event.Data
	if len(data) == 0 {
		data = []byte("null")
	}
	ev := e.Event
	_, err := p.st.ExecIn(ctx, tx, p.st.sql(parkSQL), e.Processor, ev.MessageID, ev.StreamName, ev.StreamPosition, ev.GlobalPosition,
		ev.TransactionID, ev.Type, p.st.JSON(data), p.st.JSON(md), p.st.Time(ev.Created.UTC()), e.Error, e.Attempts,
		p.st.Time(e.FirstFailure.UTC()), p.st.Time(e.LastFailure.UTC()), backend.SchemaVersionText(ev.SchemaVersion))
	return err
}

// Unpark implements projection.ParkedEvents.
func (p *ParkedEvents) Unpark(ctx context.Context, tx projection.Tx, processorID string, id int64) error {
	if id == 0 {
		_, err := p.st.ExecIn(ctx, tx, p.st.sql(unparkAllSQL), processorID)
		return err
	}
	n, err := p.st.ExecIn(ctx, tx, p.st.sql(unparkSQL), processorID, id)
	if err == nil && n == 0 {
		err = p.notFound(processorID, id)
	}
	return err
}

// where returns the conditions (and their arguments) that select the
// parked events of the processor ("" any) with the given id (0 any).
func where(processorID string, id int64) (string, []any) {
	var conds []string
	var args []any
	if processorID != "" {
		conds, args = append(conds, "processor_id = ?"), append(args, processorID)
	}
	if id != 0 {
		conds, args = append(conds, "id = ?"), append(args, id)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Parked implements projection.ParkedEvents.
func (p *ParkedEvents) Parked(ctx context.Context, f projection.ParkedFilter) ([]projection.ParkedEvent, error) {
	cond, args := where(f.Processor, f.ID)
	if f.RetryRequested {
		if cond == "" {
			cond = " WHERE retry_requested_at IS NOT NULL"
		} else {
			cond += " AND retry_requested_at IS NOT NULL"
		}
	}
	q := `SELECT ` + parkedColumns + ` FROM emt_parked_messages` + cond + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	rows, closeRows, err := p.st.Query(ctx, p.st.sql(q), args...)
	if err != nil {
		return nil, err
	}
	defer closeRows()
	var out []projection.ParkedEvent
	for rows.Next() {
		e, err := p.scan(rows)
		if err != nil {
			return nil, p.fail(ctx, "reading parked events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, p.fail(ctx, "reading parked events", err)
	}
	return out, nil
}

func (p *ParkedEvents) scan(rows Rows) (projection.ParkedEvent, error) {
	var e projection.ParkedEvent
	var md []byte
	var attempts int64
	var version string
	ev := &e.Event
	err := rows.Scan(&e.ID, &e.Processor, &ev.MessageID, &ev.StreamName, &ev.StreamPosition, &ev.GlobalPosition, &ev.TransactionID,
		&ev.Type, &ev.Data, &md, p.timeDest(&ev.Created), &e.Error, &attempts, p.timeDest(&e.FirstFailure), p.timeDest(&e.LastFailure),
		&e.RetryRequested, &version)
	if err != nil {
		return e, err
	}
	if ev.SchemaVersion, err = backend.ParseSchemaVersion(version); err != nil {
		return e, fmt.Errorf("parked event %d: %w", e.ID, err)
	}
	e.Attempts = int(attempts)
	if len(md) > 0 {
		if err := json.Unmarshal(md, &ev.Metadata); err != nil {
			return e, fmt.Errorf("parked event %d: metadata: %w", e.ID, err)
		}
	}
	return e, nil
}

// timeDest is where a time column is scanned into t.
func (p *ParkedEvents) timeDest(t *time.Time) any { return p.st.timeDest(t) }

// timeDest returns where to scan a time column into.
func (st Store) timeDest(t *time.Time) any {
	if st.ParseTime == nil {
		return t
	}
	return textTime{t, st.ParseTime}
}

// textTime scans a time stored as text.
type textTime struct {
	t     *time.Time
	parse func(string) (time.Time, error)
}

// Scan implements sql.Scanner.
func (tt textTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*tt.t = v.UTC()
		return nil
	case string:
		t, err := tt.parse(v)
		*tt.t = t
		return err
	case []byte:
		t, err := tt.parse(string(v))
		*tt.t = t
		return err
	}
	return fmt.Errorf("cannot scan %T into a time", src)
}

var _ sql.Scanner = textTime{}

// RequestRetry implements projection.ParkedEvents.
func (p *ParkedEvents) RequestRetry(ctx context.Context, processorID string, id int64) (int64, error) {
	cond, args := where(processorID, id)
	return p.st.Exec(ctx, p.st.sql(`UPDATE emt_parked_messages SET retry_requested_at = ?`+cond), append([]any{p.st.Time(time.Now().UTC())}, args...)...)
}

// RetryFailed implements projection.ParkedEvents.
func (p *ParkedEvents) RetryFailed(ctx context.Context, processorID string, id int64, errText string, at time.Time) error {
	n, err := p.st.Exec(ctx, p.st.sql(retryFailedSQL), errText, p.st.Time(at.UTC()), processorID, id)
	if err == nil && n == 0 {
		err = p.notFound(processorID, id)
	}
	return err
}

// Discard implements projection.ParkedEvents.
func (p *ParkedEvents) Discard(ctx context.Context, processorID string, id int64) error {
	if id == 0 {
		return p.notFound(processorID, id)
	}
	cond, args := where(processorID, id)
	n, err := p.st.Exec(ctx, p.st.sql(`DELETE FROM emt_parked_messages`+cond), args...)
	if err == nil && n == 0 {
		err = p.notFound(processorID, id)
	}
	return err
}
