package postgres

import "strings"

// The append is one statement. Its first part moves the stream's row in
// emt_streams on by the number of events, or inserts it, if and only if the
// expected version holds; its second part inserts the events, from the row
// the first part returned: when the expected version does not hold there is
// none, so nothing is written and no global position taken, and the
// statement returns no row. Otherwise it returns one row per event. Appends to
// one stream queue on its row (a row lock, or the wait of an insert on a
// conflicting one); nothing else is locked.
//
// Arguments: $1 stream, $2 partition, $3 number of events, $4..$8 message
// ids, types, data, metadata and schema versions (scalars for one event,
// arrays for more), then $9: the stream type where the stream may be
// created, the expected version where it must be exact.
//
// With any expected version the stream row is inserted with ON CONFLICT DO
// NOTHING, or else moved on by an UPDATE in the same statement, rather than
// with INSERT ... ON CONFLICT DO UPDATE: on a partitioned table, an upsert
// maps its arbiter indexes to the partition's at every execution, walking
// pg_inherits for each of the partition's indexes, which cost more than the
// rest of the stream row's insert (see docs/performance.md). Both parts run
// on the statement's snapshot: when another transaction creates the stream
// meanwhile, the insert finds its row and the update does not see it, so
// the statement returns no row and writes nothing, and the append runs the
// upsert (appendAnyUpsert) instead.

type appendKind uint8

const (
	appendAny       appendKind = iota // insert, or move on an existing stream
	appendNew                         // insert only (no stream, exact 0)
	appendExisting                    // move on an existing stream
	appendExact                       // move on a stream at version $9
	appendAnyUpsert                   // appendAny as one upsert, after appendAny found no row
)

type appendStatementKey struct {
	kind   appendKind
	multi  bool
	notify bool
}

var appendStatements = func() map[appendStatementKey]string {
	m := map[appendStatementKey]string{}
	for _, kind := range []appendKind{appendAny, appendNew, appendExisting, appendExact, appendAnyUpsert} {
		for _, multi := range []bool{false, true} {
			for _, notify := range []bool{false, true} {
				m[appendStatementKey{kind, multi, notify}] = buildAppendSQL(kind, multi, notify)
			}
		}
	}
	return m
}()

func buildAppendSQL(kind appendKind, multi, notify bool) string {
	const insertStream = `INSERT INTO emt_streams AS s (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
    VALUES ($1, $3::bigint, $2, $9::text, '{}', FALSE)`
	const updateStream = `UPDATE emt_streams AS s SET stream_position = s.stream_position + $3::bigint
    WHERE s.stream_id = $1 AND s.partition = $2 AND s.is_archived = FALSE`
	const returning = `
    RETURNING s.stream_position - $3::bigint AS before`
	var b strings.Builder
	switch kind {
	case appendAny:
		b.WriteString(`WITH st AS (
    ` + insertStream + `
    ON CONFLICT DO NOTHING
    RETURNING 0::bigint AS before
), up AS (
    ` + updateStream + ` AND NOT EXISTS (SELECT FROM st)` + returning)
	case appendAnyUpsert:
		b.WriteString(`WITH st AS (
    ` + insertStream + `
    ON CONFLICT (stream_id, partition, is_archived) DO UPDATE SET stream_position = s.stream_position + $3::bigint` + returning)
	case appendNew:
		b.WriteString(`WITH st AS (
    ` + insertStream + `
    ON CONFLICT DO NOTHING` + returning)
	case appendExisting:
		b.WriteString(`WITH st AS (
    ` + updateStream + returning)
	case appendExact:
		b.WriteString(`WITH st AS (
    ` + updateStream + ` AND s.stream_position = $9::bigint` + returning)
	}
	b.WriteString(`
)
INSERT INTO emt_messages (stream_id, stream_position, partition, message_data, message_metadata,
    message_schema_version, message_type, message_kind, message_id, transaction_id)
`)
	// The row that gives the stream's version before the append: st's,
	// or for appendAny the insert's or the update's.
	from := "st"
	if kind == appendAny {
		from = "(TABLE st UNION ALL TABLE up) AS st"
	}
	notifyJoin := ""
	if notify {
		notifyJoin = ", LATERAL (SELECT pg_notify('emt_messages', $2)) AS n"
	}
	if multi {
		b.WriteString(`SELECT $1, st.before + e.ord, $2, e.data, e.metadata, e.version, e.type, 'E', e.id, pg_current_xact_id()
FROM ` + from + notifyJoin + `, unnest($4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[]) WITH ORDINALITY AS e(id, type, data, metadata, version, ord)`)
	} else {
		b.WriteString(`SELECT $1, st.before + 1, $2, $6::jsonb, $7::jsonb, $8::text, $5::text, 'E', $4::text, pg_current_xact_id()
FROM ` + from + notifyJoin)
	}
	b.WriteString(`
RETURNING stream_position, global_position, transaction_id, created`)
	return b.String()
}
