// Package pgrows decodes rows of emt_messages, for the PostgreSQL store's
// reads and for the logical replication feed's history, so that both decode
// events exactly alike.
package pgrows

import (
	"fmt"

	"github.com/emmett-go/emmett/backend"

	"github.com/emmett-go/emmett/emmett"
	"github.com/jackc/pgx/v5"
)

// EventColumns are the columns of emt_messages that ScanEvents reads, in
// its order.
const EventColumns = `stream_id, stream_position, global_position, transaction_id, created, message_id, message_type, message_data, message_metadata, message_schema_version`

var emptyJSONObject = []byte("{}")

// ScanEvents reads the rows of a query selecting EventColumns into recorded
// events appended to into (created in UTC, metadata decoded), as the
// store's reads do. It closes rows.
func ScanEvents(rows pgx.Rows, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	return scanRows(rows, "", into)
}

// ScanStreamEvents reads the rows of a stream read, which select
// EventColumns but stream_id, into recorded events of stream.
func ScanStreamEvents(rows pgx.Rows, stream string, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	return scanRows(rows, stream, into)
}

// scanRows reads rows of eventColumns, or, when stream is given, of the
// same columns but stream_id, into recorded events of that stream.
func scanRows(rows pgx.Rows, stream string, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	defer rows.Close()
	var e emmett.RecordedEvent
	var metadata []byte
	var version string
	dest := []any{&e.StreamName, &e.StreamPosition, &e.GlobalPosition, &e.TransactionID, &e.Created,
		&e.MessageID, &e.Type, &e.Data, &metadata, &version}
	if stream != "" {
		dest = dest[1:]
	}
	for rows.Next() {
		e = emmett.RecordedEvent{StreamName: stream}
		if err := rows.Scan(dest...); err != nil {
			return into, err
		}
		e.Created = e.Created.UTC()
		var err error
		if e.SchemaVersion, err = backend.ParseSchemaVersion(version); err != nil {
			return into, fmt.Errorf("postgres: event %s (stream %q, position %d): %w", e.MessageID, e.StreamName, e.StreamPosition, err)
		}
		if err := DecodeMetadata(metadata, &e.Metadata); err != nil {
			return into, fmt.Errorf("postgres: event %s (stream %q, position %d) has malformed metadata: %w", e.MessageID, e.StreamName, e.StreamPosition, err)
		}
		into = append(into, e)
	}
	return into, rows.Err()
}
