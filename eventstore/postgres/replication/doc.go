// Package replication feeds asynchronous projections from PostgreSQL's
// logical replication: a projection.Source whose processors receive each
// committed transaction of emt_messages as it commits, in commit order,
// without polling.
//
// # How it works
//
// A publication on emt_messages (inserts only, published through the
// partitioned root table; DefaultPublication, created if missing) and one
// durable pgoutput replication slot per processor (named after the
// processor, see SlotName; created on first use, dropped only by DropSlot)
// carry the events. The source decodes the relation, begin, insert and
// commit messages into emmett.RecordedEvent values (every column: stream,
// positions, transaction id, created, type, data, metadata), leaves out
// archived rows and, with WithPartition, other partitions, and hands
// whole committed transactions to the processor, several per batch when
// they queue up. A batch's End is the position of its last transaction:
// its commit's end in the WAL (the LSN), with the transaction id and
// global position of its last event.
//
// No seam between history and stream: a processor starting from the
// beginning (a new projection, a rebuild) gets a slot created with an
// exported snapshot. The events committed before the slot's consistent
// point are exactly those visible in that snapshot; the source reads them
// from emt_messages in (transaction_id, global_position) order, then
// streams from the consistent point. The exported snapshot dies with its
// connection, so the source records it (pg_current_snapshot() inside it)
// with the consistent point in a table of its own, emt_replication_slots,
// and reads the history with pg_visible_in_snapshot against the record: a
// processor killed in the middle of the history resumes in the same
// snapshot. History positions carry the LSN HistoryLSN, before every WAL
// position. A processor that starts after a position of the table's order
// (projection.StartAfter with an append's position, or a checkpoint of the
// polling feed) catches up the same way from that position.
//
// A processor that resumes from a checkpoint of the stream with a long
// backlog behind it (WithTableCatchUp: 16 MiB of WAL by default) catches
// up from the table too, when the source knows the checkpoint's cut: which
// transactions a commit LSN covers, which no column of the table says (ids
// and positions are not in commit order). The source keeps the cut of the
// position its processor applied while it streams (a snapshot, and the ids
// of the transactions applied that the snapshot does not see) and writes
// it down in emt_replication_cuts every second and when the stream stops.
// It then replaces the slot by one with an exported snapshot, delivers the
// events of that snapshot the cut leaves out, in global position order
// (the order of each stream's events), and streams from the new slot's
// consistent point. cut.go has the rule and why it is exact. Without the
// cut (a process killed between two writes of it) the backlog comes from
// the slot's WAL. Events of streams archived meanwhile are no longer in
// the table as they were: read from the table they are skipped, as they
// are from a new slot's history and by the polling feed.
//
// # Guarantees
//
//   - Every event is delivered once and in commit order: a projector
//     stores the batch's End with its read-model change in one transaction
//     (the store's CheckpointStore), and on a restart the source skips
//     every commit at or below the stored LSN. Exactly once for read models
//     in the same database; at least once for reactors, which get the
//     message id for idempotency.
//   - The slot's flush position sent to the server is only what the
//     processor has durably applied (its handler returned), never the
//     server's current WAL position; the source resumes from the stored
//     checkpoint.
//   - Read your writes: Target, which projection.Processor.WaitFor calls,
//     returns the server's WAL position read after the append (every commit
//     that returned before ends at or before it). In the instance that runs
//     the processor, the source then asks the walsender how far it has
//     decoded, so WaitFor returns within milliseconds even when nothing else
//     is committed; in another instance, Target emits a logical decoding
//     message the streaming instance takes as a request to checkpoint that
//     far.
//
// Logical decoding reads WAL once it is flushed: with synchronous_commit
// off on the writers, a commit reaches the feed when the WAL writer flushes
// it (wal_writer_delay, 200ms by default).
//
// # Operations
//
// Status reports the slot: active walsender, wal_status, WAL retained
// (current position minus restart_lsn) and lag (current position minus
// confirmed_flush_lsn); both are also gauges
// (telemetry.MetricReplicationSlotRetainedWAL and
// telemetry.MetricReplicationSlotLag) from the source's first use until
// its Close or DropSlot, whether the slot streams or not: a stopped
// processor's slot that piles up WAL shows.
// On an idle slot (only other tables written) the source delivers empty
// batches at the server's position, at most every IdleAdvanceInterval or
// once IdleAdvanceBytes of WAL went by, so the slot stops retaining WAL.
// Standby status updates are sent when the server asks and every
// StatusInterval.
//
// To retire the feed from a database, drop the processors' slots
// (Source.DropSlot), then the publication (DropPublication, which refuses
// with ErrPublicationInUse while any pgoutput slot of the database
// remains). A source that runs again creates both again.
//
// A slot the server invalidated (max_slot_wal_keep_size: wal_status
// 'lost'), or one that cannot serve the processor's checkpoint (dropped, or
// moved past it), stops the processor with a *SlotError that says how to
// recover: projection.Processor.ResetAndRebuild resets the read model, and the
// source drops the slot, creates it again with a new snapshot, replays the
// table in it and follows the new stream. Lost connections and server
// restarts are retried with backoff (RetryMin, RetryMax) from the last
// applied batch.
//
// Several instances of an application may run the same processor: the
// processor's lock (the store's advisory lock) lets one run. The new lock
// holder ends any walsender still holding the slot (it can only belong to
// an instance that lost the lock) and streams within moments.
//
// Auto chooses the feed: replication where the server allows it
// (wal_level=logical, a role with REPLICATION or SUPERUSER, a free WAL
// sender, the processor's slot or a free one to create it, a connection
// that accepts replication=database, which a transaction-mode pooler does
// not), else the store's polling source, with one log line that says which
// and why. A source that has to create its slot when every slot of the
// server is taken (max_replication_slots) stops with an error matching
// ErrNoFreeSlot rather than retrying.
//
// Logical replication needs a direct connection to the server: a
// replication connection is a session of its own, which a transaction-mode
// pooler (PgBouncer, RDS Proxy) does not carry, and the source keeps
// session state on its store's pool besides (a shared advisory lock on the
// publication while it creates its slot). Where the application's stores
// go through a pooler (postgres.WithPooler), give NewSource a store opened
// on a direct URL to the server, or use the pooled store's polling source.
package replication
