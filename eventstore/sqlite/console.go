package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
)

var (
	_ eventstore.StreamLister    = (*Store)(nil)
	_ projection.ProcessorLister = (*Store)(nil)
)

const (
	// listStreamsSQL reads the primary key of emt_streams (stream_id
	// first) from the page's start (the greater of the prefix and the name
	// after which the page starts: one lower bound, so that SQLite starts
	// the range there), up to the prefix's exclusive end when it has one.
	// The BINARY collation is byte order, so the prefix is one range.
	listStreamsSQL = `SELECT stream_id, stream_type, stream_position FROM emt_streams
WHERE stream_id %s ? %s AND partition = ? AND is_archived = 0
ORDER BY stream_id LIMIT ?`
)

// ListStreams implements eventstore.StreamLister: a range of the primary
// key of emt_streams, whose cost does not grow with the page's depth.
func (s *Store) ListStreams(ctx context.Context, q eventstore.StreamQuery) ([]eventstore.StreamInfo, error) {
	q = backend.ResolveStreamQuery(q)
	if err := s.beginRead(); err != nil {
		return nil, err
	}
	query, args := listStreamsQuery(q)
	rows, err := s.readers.QueryContext(ctx, query, args...)
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

// listStreamsQuery returns the statement of a page of streams and its
// arguments.
func listStreamsQuery(q eventstore.StreamQuery) (string, []any) {
	rg := backend.RangeOf(q)
	upper, args := "", []any{rg.From}
	if rg.Bounded {
		upper, args = "AND stream_id < ?", append(args, rg.End)
	}
	return fmt.Sprintf(listStreamsSQL, rg.LowerOp(), upper), append(args, q.Partition, q.Limit)
}

// ListProcessors implements projection.ProcessorLister with the rows of
// emt_processors.
func (s *Store) ListProcessors(ctx context.Context) ([]projection.ProcessorState, error) {
	if err := s.beginRead(); err != nil {
		return nil, err
	}
	rows, err := s.readers.QueryContext(ctx, sqlproc.ListProcessorsSQL)
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
