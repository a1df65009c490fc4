package postgres

import (
	"github.com/emmett-go/emmett/emmett"
	"github.com/jackc/pgx/v5"
)

// Helpers for feeds built outside this package (the logical replication
// feed in eventstore/postgres/replication), so that they decode events
// exactly as the store's own reads do.

// EventColumns are the columns of emt_messages, in the order ScanEvents
// reads them.
const EventColumns = eventColumns

// ScanEvents reads rows of a query selecting EventColumns into recorded
// events appended to into, as ReadAll does (created in UTC, metadata
// decoded). It closes rows.
func ScanEvents(rows pgx.Rows, into []emmett.RecordedEvent) ([]emmett.RecordedEvent, error) {
	return scanEvents(rows, into)
}

// DecodeMetadata decodes the JSON of emt_messages.message_metadata as the
// store's reads do; empty or {} gives the zero Metadata.
func DecodeMetadata(data []byte) (emmett.Metadata, error) {
	var m emmett.Metadata
	err := decodeMetadata(data, &m)
	return m, err
}
