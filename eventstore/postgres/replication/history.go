package replication

import (
	"context"
	"fmt"
	"math"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres/internal/pgrows"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
)

// The history: the events of the slot's snapshot, in (transaction_id,
// global_position) order, after a position of that order. Rows of
// transactions at or past the snapshot's xmax are never visible in it: the
// bound keeps the scan from reading through what was appended since.
func historySQL(partition bool) string {
	q := `SELECT ` + pgrows.EventColumns + `
FROM emt_messages
WHERE is_archived = FALSE
  AND (transaction_id, global_position) > ($2::xid8, $3::bigint)
  AND transaction_id < pg_snapshot_xmax($1::pg_snapshot)
  AND pg_visible_in_snapshot(transaction_id, $1::pg_snapshot)`
	if partition {
		q += `
  AND partition = $5`
	}
	return q + `
ORDER BY transaction_id, global_position
LIMIT $4`
}

// The history of a slot made to catch up from the table (its record has
// an exclusion: the cut of the checkpoint it catches up from, see cut.go):
// the events of the slot's snapshot the cut does not cover, in global
// position order, which is the order of the events of each stream (an
// append takes its positions after it locked its stream's row, so after
// the append before it committed), where transaction ids are not: a
// transaction can take its id before another that appends to the same
// stream before it. $2 is the global position to read after. It is read
// through one cursor (historyCursor), fetched a batch at a time: pages of
// a LIMIT would each have the planner weigh a sort of what remains. It
// starts from the smallest global position of the transactions
// from the cut's xmin on (historyStartSQL): every one below it is in the
// cut.
func historyExcludingSQL(partition bool) string {
	q := `SELECT ` + pgrows.EventColumns + `
FROM emt_messages
WHERE is_archived = FALSE
  AND global_position > $2::bigint
  AND transaction_id < pg_snapshot_xmax($1::pg_snapshot)
  AND pg_visible_in_snapshot(transaction_id, $1::pg_snapshot)
  AND NOT pg_visible_in_snapshot(transaction_id, $3::pg_snapshot)
  AND transaction_id <> ALL ($4::text::xid8[])`
	if partition {
		q += `
  AND partition = $5`
	}
	return q + `
ORDER BY global_position`
}

const historyStartSQL = `SELECT min(global_position) FROM emt_messages WHERE transaction_id >= $1::xid8`

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
	afterTx, afterGlobal := pos.TransactionID, pos.GlobalPosition
	q := historySQL(s.opts.Partition != "")
	args := []any{st.snapshot, 0, 0, s.opts.BatchSize}
	if s.opts.Partition != "" {
		args = append(args, s.opts.Partition)
	}
	excluding := st.exclude != nil
	if excluding {
		q = historyExcludingSQL(s.opts.Partition != "")
		args = []any{st.snapshot, 0, st.exclude.snapshot, xidArray(st.exclude.xids)}
		if s.opts.Partition != "" {
			args = append(args, s.opts.Partition)
		}
		if pos.LSN > HistoryLSN {
			// The checkpoint of the stream the slot was made to catch up
			// from.
			xmin, err := snapshotXmin(st.exclude.snapshot)
			if err != nil {
				return &permanentError{fmt.Errorf("replication: slot %q: %w", s.slot, err)}
			}
			var from *int64
			if err := s.pool.QueryRow(ctx, historyStartSQL, xmin).Scan(&from); err != nil {
				return fmt.Errorf("replication: reading the history of slot %q: %w", s.slot, err)
			}
			afterGlobal = math.MaxInt64 // nothing from the cut's xmin on
			if from != nil {
				afterGlobal = *from - 1
			}
		}
	} else if pos.LSN > HistoryLSN {
		return &permanentError{fmt.Errorf("replication: slot %q has no cut to catch up from %s", s.slot, pos)}
	}
	go func() {
		defer close(pages)
		if excluding {
			args[1] = afterGlobal
			s.historyCursor(ctx, q, args, pages)
			return
		}
		for {
			var rows []emmett.RecordedEvent
			args[1], args[2] = afterTx, afterGlobal
			r, err := s.pool.Query(ctx, q, args...)
			if err == nil {
				rows, err = pgrows.ScanEvents(r, nil)
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
			p.err = fmt.Errorf("replication: reading the history of slot %q: %w", s.slot, p.err)
		}
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

// historyCursor reads the rows of q through a cursor, a batch at a time,
// into pages, until they end, ctx does, or reading fails.
func (s *Source) historyCursor(ctx context.Context, q string, args []any, pages chan<- page) {
	send := func(p page) bool {
		select {
		case pages <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		send(page{err: err})
		return
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "DECLARE emt_history NO SCROLL CURSOR FOR "+q, args...); err != nil {
		send(page{err: err})
		return
	}
	fetch := fmt.Sprintf("FETCH %d FROM emt_history", s.opts.BatchSize)
	for {
		r, err := tx.Query(ctx, fetch)
		var rows []emmett.RecordedEvent
		if err == nil {
			rows, err = pgrows.ScanEvents(r, nil)
		}
		if !send(page{events: rows, err: err}) || err != nil || len(rows) < s.opts.BatchSize {
			return
		}
	}
}
