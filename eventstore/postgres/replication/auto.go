package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pglogrepl"
)

// ErrUnavailable is matched by the error of Check when logical
// replication cannot feed processors on the server.
var ErrUnavailable = errors.New("replication: logical replication is not available")

// Check reports whether the source can run on its server: wal_level is
// logical, the role may replicate (REPLICATION or superuser), a WAL sender
// is free (max_wal_senders), the source's slot exists or a replication
// slot is free to create it (max_replication_slots; the error then matches
// ErrNoFreeSlot too), the connection accepts replication=database (a
// transaction-mode pooler does not), and the publication exists or can be
// created. The error matches ErrUnavailable and says what is missing.
func (s *Source) Check(ctx context.Context) error {
	unavailable := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrUnavailable}, args...)...)
	}
	var walLevel string
	var canReplicate bool
	err := s.pool.QueryRow(ctx, `SELECT current_setting('wal_level'), rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user`).
		Scan(&walLevel, &canReplicate)
	if err != nil {
		return unavailable("reading the server's settings: %v", err)
	}
	if walLevel != "logical" {
		return unavailable("wal_level is %q, not \"logical\"", walLevel)
	}
	if !canReplicate {
		return unavailable("the role has neither REPLICATION nor SUPERUSER")
	}
	var maxSlots, slots, maxSenders, senders int
	var slotExists bool
	err = s.pool.QueryRow(ctx, capacitySQL, s.slot).Scan(&maxSlots, &slots, &slotExists, &maxSenders, &senders)
	if err != nil {
		return unavailable("reading the server's replication slots and WAL senders: %v", err)
	}
	if senders >= maxSenders {
		return unavailable("no WAL sender is free: max_wal_senders is %d and %d run (pg_stat_replication)", maxSenders, senders)
	}
	if !slotExists && slots >= maxSlots {
		return &noFreeSlotError{fmt.Sprintf("no replication slot is free: max_replication_slots is %d and %d slots exist (pg_replication_slots), "+
			"and slot %q is not one of them; drop the slots no longer used or raise max_replication_slots", maxSlots, slots, s.slot)}
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return unavailable("a replication connection (replication=database) is refused: %v", err)
	}
	_, err = pglogrepl.IdentifySystem(ctx, conn)
	_ = conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return unavailable("the connection does not take replication commands (a pooler?): %v", err)
	}
	if err := s.setup(ctx); err != nil {
		return unavailable("%v", err)
	}
	return nil
}

// noFreeSlotError is the error of Check when the source's slot cannot be
// created: it matches ErrUnavailable and ErrNoFreeSlot.
type noFreeSlotError struct{ reason string }

func (e *noFreeSlotError) Error() string   { return ErrUnavailable.Error() + ": " + e.reason }
func (e *noFreeSlotError) Unwrap() []error { return []error{ErrUnavailable, ErrNoFreeSlot} }

// capacitySQL reads the server's replication slots and WAL senders: how
// many may exist and how many do, and whether the source's slot does. The
// WAL sender serving the source's own slot (a previous run's, not yet
// timed out) is not counted: the source ends it when it takes the slot.
const capacitySQL = `SELECT current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)::int,
	EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1),
	current_setting('max_wal_senders')::int,
	(SELECT count(*) FROM pg_stat_replication WHERE pid IS DISTINCT FROM
		(SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1))::int`

// Auto returns the feed for a processor: a Source on logical replication
// where the server allows it (see Check), and otherwise the store's polling
// source (store.Source with the options of WithPolling, its batch size and
// partition the source's unless they set them). It logs which, and why, in one line: at info
// level for replication, as a warning for the fallback.
//
// The polling fallback refuses to resume from a checkpoint of the
// replication stream (its Subscribe returns a *SlotError matching
// ErrCheckpointUnreachable): positions of the stream are ordered by commit,
// those of polling by transaction id, and going on from one in the other
// order could skip or repeat events. Rebuild such a processor (a new
// version of its projection, or Processor.ResetAndRebuild) to move it to
// polling, or make replication available again.
func Auto(ctx context.Context, store *postgres.Store, processorID string, opts ...Option) (projection.Source, error) {
	src, err := NewSource(store, processorID, opts...)
	if err != nil {
		return nil, err
	}
	cerr := src.Check(ctx)
	if cerr == nil {
		src.log.InfoContext(ctx, "projection feed: logical replication", "processor", processorID, "slot", src.slot, "publication", src.opts.Publication)
		return src, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	polling := append([]projection.PollOption{projection.PollBatchSize(src.opts.BatchSize), projection.PollPartition(src.opts.Partition)}, src.opts.Polling...)
	src.log.WarnContext(ctx, "projection feed: polling, as logical replication is not available", "processor", processorID, "reason", cerr.Error())
	return &pollingFallback{Source: store.Source(polling...), slot: src.slot}, nil
}

// pollingFallback is the store's polling source, refusing checkpoints of
// the replication stream.
type pollingFallback struct {
	projection.Source
	slot string
}

var _ projection.Counter = (*pollingFallback)(nil)

// Count implements projection.Counter with the polling source's.
func (p *pollingFallback) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	return p.Source.(projection.Counter).Count(ctx, after, upTo)
}

func (p *pollingFallback) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	if after.LSN != 0 {
		return &SlotError{Slot: p.slot, Checkpoint: after, Err: ErrCheckpointUnreachable,
			Reason: "the checkpoint comes from logical replication, which is not available now, and the polling feed cannot resume from it"}
	}
	return p.Source.Subscribe(ctx, after, handle)
}
