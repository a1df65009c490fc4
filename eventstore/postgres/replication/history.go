package replication

import (
	"context"
	"fmt"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres/internal/pgrows"
	"github.com/emmett-go/emmett/projection"
)

// The history: the events of the slot's snapshot, in (transaction_id,
// global_position) order, after a position of that order. Rows of
// transactions at or past the snapshot's xmax are never visible in it: the
// bound keeps the scan from reading through what was appended since.
const historySQL = `SELECT ` + pgrows.EventColumns + `
FROM emt_messages
WHERE is_archived = FALSE
  AND (transaction_id, global_position) > ($2::xid8, $3::bigint)
  AND transaction_id < pg_snapshot_xmax($1::pg_snapshot)
  AND pg_visible_in_snapshot(transaction_id, $1::pg_snapshot)
ORDER BY transaction_id, global_position
LIMIT $4`

const historyInPartitionSQL = `SELECT ` + pgrows.EventColumns + `
FROM emt_messages
WHERE is_archived = FALSE AND partition = $5
  AND (transaction_id, global_position) > ($2::xid8, $3::bigint)
  AND transaction_id < pg_snapshot_xmax($1::pg_snapshot)
  AND pg_visible_in_snapshot(transaction_id, $1::pg_snapshot)
ORDER BY transaction_id, global_position
LIMIT $4`

type page struct {
	events []emmett.RecordedEvent
	err    error
}

// history delivers the events of the slot's snapshot after pos, in
// batches whose End has the LSN HistoryLSN, then an empty batch that moves
// the checkpoint to the slot's consistent point, where the stream takes
// over. The next page is read while the processor applies the current one.
func (s *Source) history(ctx context.Context, pos *eventstore.Position, st slotState, handle func(context.Context, projection.Batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		afterTx, afterGlobal := pos.TransactionID, pos.GlobalPosition
		for {
			var rows []emmett.RecordedEvent
			var err error
			if s.opts.Partition == "" {
				r, qerr := s.pool.Query(ctx, historySQL, st.snapshot, afterTx, afterGlobal, s.opts.BatchSize)
				if err = qerr; err == nil {
					rows, err = pgrows.ScanEvents(r, nil)
				}
			} else {
				r, qerr := s.pool.Query(ctx, historyInPartitionSQL, st.snapshot, afterTx, afterGlobal, s.opts.BatchSize, s.opts.Partition)
				if err = qerr; err == nil {
					rows, err = pgrows.ScanEvents(r, nil)
				}
			}
			if err != nil {
				err = fmt.Errorf("replication: reading the history of slot %q: %w", s.slot, err)
			}
			select {
			case pages <- page{events: rows, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(rows) < s.opts.BatchSize {
				return
			}
			last := rows[len(rows)-1]
			afterTx, afterGlobal = last.TransactionID, last.GlobalPosition
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		if len(p.events) == 0 {
			continue
		}
		last := p.events[len(p.events)-1]
		end := eventstore.Position{LSN: HistoryLSN, TransactionID: last.TransactionID, GlobalPosition: last.GlobalPosition}
		if err := handle(ctx, projection.Batch{Events: p.events, End: end}); err != nil {
			return &handlerError{err}
		}
		*pos = end
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	end := eventstore.Position{LSN: uint64(st.consistentPoint), TransactionID: pos.TransactionID, GlobalPosition: pos.GlobalPosition}
	if err := handle(ctx, projection.Batch{End: end}); err != nil {
		return &handlerError{err}
	}
	*pos = end
	return nil
}
