package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
)

const (
	// listStreamsSQL reads the index of migration 0008 in the leaf of the
	// partition's active streams from the page's start (the greater of the
	// prefix and the name after which the page starts), in byte order, up
	// to the prefix's exclusive end when it has one.
	listStreamsSQL = `SELECT stream_id, stream_type, stream_position FROM emt_streams
WHERE partition = $1 AND is_archived = false AND stream_id COLLATE "C" %s $3 %s
ORDER BY stream_id COLLATE "C" LIMIT $2`
)

// ListStreams implements eventstore.StreamLister with an index range scan
// (Emmett for Go's migration 0008), whose cost does not grow with the
// page's depth.
func (s *Store) ListStreams(ctx context.Context, q eventstore.StreamQuery) ([]eventstore.StreamInfo, error) {
	q = backend.ResolveStreamQuery(q)
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rg := backend.RangeOf(q)
	upper, args := "", []any{q.Partition, q.Limit, rg.From}
	if rg.Bounded {
		upper, args = `AND stream_id COLLATE "C" < $4`, append(args, rg.End)
	}
	query := fmt.Sprintf(listStreamsSQL, rg.LowerOp(), upper)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.readError(ctx, "listing streams", err)
	}
	defer rows.Close()
	var out []eventstore.StreamInfo
	for rows.Next() {
		i := eventstore.StreamInfo{Partition: q.Partition}
		if err := rows.Scan(&i.Name, &i.Type, &i.Version); err != nil {
			return nil, s.readError(ctx, "listing streams", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(ctx, "listing streams", err)
	}
	return out, nil
}

// ListProcessors implements projection.ProcessorLister with the rows of
// emt_processors.
func (s *Store) ListProcessors(ctx context.Context) ([]projection.ProcessorState, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, sqlproc.ListProcessorsSQL)
	if err != nil {
		return nil, s.readError(ctx, "listing processors", err)
	}
	var out []projection.ProcessorState
	var bare []int // the processors whose checkpoint is a bare global position (Node's)
	for rows.Next() {
		var p projection.ProcessorState
		var cp string
		var updated time.Time
		if err := rows.Scan(&p.ID, &p.Partition, &p.Status, &cp, &p.Instance, &updated); err != nil {
			rows.Close()
			return nil, s.readError(ctx, "listing processors", err)
		}
		p.Updated = updated
		pos, found, err := sqlproc.ParseCheckpoint("postgres", p.ID, cp)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if found {
			p.Checkpoint = pos
			if pos.TransactionID == 0 && pos.LSN == 0 && pos.GlobalPosition > 0 {
				bare = append(bare, len(out))
			}
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.readError(ctx, "listing processors", err)
	}
	for _, i := range bare {
		if err := s.pool.QueryRow(ctx, resolveGlobalSQL, out[i].Checkpoint.GlobalPosition).Scan(&out[i].Checkpoint.TransactionID); err != nil {
			return nil, s.readError(ctx, "listing processors", err)
		}
	}
	return out, nil
}
