package sqlite

import (
	"context"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

var (
	_ eventstore.StreamLister    = (*Store)(nil)
	_ projection.ProcessorLister = (*Store)(nil)
)

const (
	// listStreamsSQL reads the primary key of emt_streams (stream_id
	// first) from the page's start: ?3 is the prefix's exclusive end.
	// The BINARY collation is byte order, so the prefix is one range.
	listStreamsSQL = `SELECT stream_id, stream_type, stream_position FROM emt_streams
WHERE stream_id >= ?1 AND stream_id > ?2 AND (?3 = '' OR stream_id < ?3) AND partition = ?4 AND is_archived = 0
ORDER BY stream_id LIMIT ?5`
	listProcessorsSQL = `SELECT processor_id, partition, status, last_processed_checkpoint, processor_instance_id, last_updated
FROM emt_processors ORDER BY processor_id, partition, version`
)

// ListStreams implements eventstore.StreamLister: a range of the primary
// key of emt_streams, whose cost does not grow with the page's depth.
func (s *Store) ListStreams(ctx context.Context, q eventstore.StreamQuery) ([]eventstore.StreamInfo, error) {
	q = q.Resolve()
	if err := s.beginRead(); err != nil {
		return nil, err
	}
	end, _ := eventstore.PrefixEnd(q.Prefix)
	rows, err := s.readers.QueryContext(ctx, listStreamsSQL, q.Prefix, q.After, end, q.Partition, q.Limit)
	if err != nil {
		return nil, s.readError(ctx, err)
	}
	defer rows.Close()
	var out []eventstore.StreamInfo
	for rows.Next() {
		i := eventstore.StreamInfo{Partition: q.Partition}
		if err := rows.Scan(&i.Name, &i.Type, &i.Version); err != nil {
			return nil, s.readError(ctx, err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(ctx, err)
	}
	return out, nil
}

// ListProcessors implements projection.ProcessorLister with the rows of
// emt_processors.
func (s *Store) ListProcessors(ctx context.Context) ([]projection.ProcessorState, error) {
	if err := s.beginRead(); err != nil {
		return nil, err
	}
	rows, err := s.readers.QueryContext(ctx, listProcessorsSQL)
	if err != nil {
		return nil, s.readError(ctx, err)
	}
	defer rows.Close()
	var out []projection.ProcessorState
	for rows.Next() {
		var p projection.ProcessorState
		var cp, updated string
		if err := rows.Scan(&p.ID, &p.Partition, &p.Status, &cp, &p.Instance, &updated); err != nil {
			return nil, s.readError(ctx, err)
		}
		if cp != "" {
			if p.Checkpoint, err = eventstore.ParsePosition(cp); err != nil {
				return nil, err
			}
		}
		p.Updated, _ = time.Parse("2006-01-02 15:04:05.999", updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(ctx, err)
	}
	return out, nil
}
