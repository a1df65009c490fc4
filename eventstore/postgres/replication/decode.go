package replication

import (
	"fmt"
	"github.com/emmett-go/emmett/backend"
	"strconv"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/postgres/internal/pgrows"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// Column indexes of emt_messages in a relation message; -1 when missing.
type relation struct {
	name                                                             string
	streamPosition, globalPosition, transactionID, created, archived int
	streamID, partition, messageID, messageType, data, metadata      int
	schemaVersion                                                    int
}

func newRelation(m *pglogrepl.RelationMessage) *relation {
	r := &relation{name: m.RelationName}
	idx := map[string]*int{
		"stream_position": &r.streamPosition, "global_position": &r.globalPosition, "transaction_id": &r.transactionID,
		"created": &r.created, "is_archived": &r.archived, "stream_id": &r.streamID, "partition": &r.partition,
		"message_id": &r.messageID, "message_type": &r.messageType, "message_data": &r.data, "message_metadata": &r.metadata,
		"message_schema_version": &r.schemaVersion,
	}
	for _, p := range idx {
		*p = -1
	}
	for i, c := range m.Columns {
		if p, ok := idx[c.Name]; ok {
			*p = i
		}
	}
	return r
}

func (r *relation) complete() bool {
	for _, i := range []int{r.streamPosition, r.globalPosition, r.transactionID, r.created, r.archived,
		r.streamID, r.partition, r.messageID, r.messageType, r.data, r.metadata, r.schemaVersion} {
		if i < 0 {
			return false
		}
	}
	return true
}

// decoder turns pgoutput insert messages into recorded events.
type decoder struct {
	relations map[uint32]*relation
	types     *pgtype.Map
	partition string // "" for every partition
}

func newDecoder(partition string) *decoder {
	return &decoder{relations: map[uint32]*relation{}, types: pgtype.NewMap(), partition: partition}
}

func (d *decoder) relation(m *pglogrepl.RelationMessage) { d.relations[m.RelationID] = newRelation(m) }

// insert decodes an inserted row of emt_messages. It reports false for rows
// the feed leaves out: archived ones (a stream moved to the archive is
// deleted and inserted again, archived) and those of other partitions.
func (d *decoder) insert(m *pglogrepl.InsertMessage) (emmett.RecordedEvent, bool, error) {
	var e emmett.RecordedEvent
	r, ok := d.relations[m.RelationID]
	if !ok {
		return e, false, fmt.Errorf("replication: insert into unknown relation %d", m.RelationID)
	}
	if r.name != "emt_messages" {
		return e, false, nil
	}
	if !r.complete() {
		return e, false, fmt.Errorf("replication: relation emt_messages lacks columns of the event store's schema")
	}
	cols := m.Tuple.Columns
	text := func(i int) ([]byte, error) {
		if i >= len(cols) {
			return nil, fmt.Errorf("replication: insert message with %d columns", len(cols))
		}
		c := cols[i]
		if c.DataType != pglogrepl.TupleDataTypeText {
			return nil, fmt.Errorf("replication: column %d of emt_messages arrived as %q, not text", i, c.DataType)
		}
		return c.Data, nil
	}
	archived, err := text(r.archived)
	if err != nil {
		return e, false, err
	}
	if string(archived) != "f" {
		return e, false, nil
	}
	partition, err := text(r.partition)
	if err != nil {
		return e, false, err
	}
	if d.partition != "" && string(partition) != d.partition {
		return e, false, nil
	}
	var raw [9][]byte
	for i, c := range []int{r.streamID, r.streamPosition, r.globalPosition, r.transactionID, r.created, r.messageID, r.messageType, r.data, r.schemaVersion} {
		if raw[i], err = text(c); err != nil {
			return e, false, err
		}
	}
	metadata, err := text(r.metadata)
	if err != nil {
		return e, false, err
	}
	e.StreamName = string(raw[0])
	if e.StreamPosition, err = strconv.ParseInt(string(raw[1]), 10, 64); err != nil {
		return e, false, fmt.Errorf("replication: stream_position: %w", err)
	}
	if e.GlobalPosition, err = strconv.ParseInt(string(raw[2]), 10, 64); err != nil {
		return e, false, fmt.Errorf("replication: global_position: %w", err)
	}
	if e.TransactionID, err = strconv.ParseUint(string(raw[3]), 10, 64); err != nil {
		return e, false, fmt.Errorf("replication: transaction_id: %w", err)
	}
	var created time.Time
	if err := d.types.Scan(pgtype.TimestamptzOID, pgtype.TextFormatCode, raw[4], &created); err != nil {
		return e, false, fmt.Errorf("replication: created: %w", err)
	}
	e.Created = created.UTC()
	e.MessageID = string(raw[5])
	e.Type = string(raw[6])
	e.Data = raw[7] // pglogrepl copied it out of the message
	if e.SchemaVersion, err = backend.ParseSchemaVersion(raw[8]); err != nil {
		return e, false, fmt.Errorf("replication: event %s (stream %q, position %d): %w", e.MessageID, e.StreamName, e.StreamPosition, err)
	}
	if err = pgrows.DecodeMetadata(metadata, &e.Metadata); err != nil {
		return e, false, fmt.Errorf("replication: event %s (stream %q, position %d) has malformed metadata: %w", e.MessageID, e.StreamName, e.StreamPosition, err)
	}
	return e, true, nil
}
