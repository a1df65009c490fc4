// Package postgres is the PostgreSQL event store, on pgx/v5.
//
// It keeps its events in the schema of Emmett for Node.js
// (@event-driven-io/emmett-postgresql 0.42), so that a Node service and a Go
// service can share one event store, in both directions:
//
//   - emt_streams (one row per stream: its version, partition, type) and
//     emt_messages (one row per event: stream position, global position
//     from the sequence emt_global_message_position, transaction_id
//     (xid8), created, message_id (a UUID string), message_type,
//     message_data and message_metadata (JSON objects), message_kind 'E',
//     message_schema_version '1'), each partitioned by LIST (partition)
//     and each partition by is_archived into _active and _archived;
//     emt_processors and emt_projections as Node has them (processors'
//     checkpoints and locks live in emt_processors; emt_projections, where
//     Node records the status of its projections, is kept for Node and
//     not written by Emmett for Go).
//   - The default partition is 'emt:default'; emt_streams.stream_type is
//     the part of the stream name before its first '-' ('emt:unknown' when
//     there is none).
//   - The schema is created by running Node's own migration SQL verbatim and
//     recording it in Node's migration table (dmb_migrations) with the
//     names and hashes Node records, so that Node finds it applied; a
//     database Node created is used as it is. Emmett for Go adds, in
//     migrations of its own, indexes on emt_messages and
//     emt_parked_messages, the events processors parked (see
//     projection.ParkOnFailure). See Migrate.
//
// # Appending
//
// AppendToStream is one statement, one round trip. Its first part checks
// the expected version (any, no stream, stream exists or exact) on the
// stream's row in emt_streams, which it inserts or moves on; its second part
// inserts the events only from the row the first returned. So a loser writes
// nothing and takes no global position, and two appends creating one stream
// at once give one success and one version conflict (never a unique
// violation). Appends to one stream queue on its row; nothing else is
// locked, so appends to different streams commit in parallel and share WAL
// flushes. (Node's own emt_append_to_stream, left untouched, does not check
// "no stream" or "stream exists"; Node's appends and ours can run side by
// side, as both keep emt_streams.stream_position.)
//
// BeforeCommit hooks (WithBeforeCommit) run inside the append's transaction
// with the recorded events, for inline projections; AppendToStreamTx appends
// inside a transaction of the caller's.
//
// When the connection is lost after an append was sent and before its
// commit was confirmed, the error matches eventstore.ErrOutcomeUnknown: read
// the stream to know. Every other error means nothing was stored.
//
// # Reading
//
// ReadStream reads a page at a time (WithPageSize) and yields as it goes, so
// a long stream is read in bounded memory. ReadAll reads the global log in
// (transaction_id, global_position) order, only from transactions older than
// every transaction still open (transaction_id <
// pg_snapshot_xmin(pg_current_snapshot())): a transaction that took its
// global positions first may commit last, and a reader ordering by global
// position alone would skip its events. Source follows the log for
// processors, with the same order.
//
// # Partitions
//
// A partition is a tenant or a module. AddPartition creates one;
// InPartition (an append and read option) uses it. ArchiveStream moves a
// stream to the archived sub-partitions, out of every read. Tenants spread
// over several servers are partitions of stores routed by
// [github.com/emmett-go/emmett/eventstore/shard].
//
// # Read replicas
//
// A Replica writes to the primary and reads from a streaming-replication
// standby. A read whose context carries a position
// (eventstore.WithMinPosition: what an append returned) waits until the
// standby has replayed it, then reads the standby; when the wait
// (WithReplicaWait) runs out, it reads the primary, or fails with
// ErrReplicaBehind (WithoutPrimaryFallback).
//
// # Projections
//
// The store is a backend of the projection package, as the SQLite and
// in-memory stores are:
//
//   - Documents() keeps JSON documents in collections, a table per
//     collection with the layout of Pongo (the document store Emmett for
//     Node keeps its read models in: _id, data JSONB, metadata, _version,
//     _partition, _archived, _created, _updated), created on first use,
//     with the indexes the projections declare (projection.WithIndexes: a
//     btree on a field, or projection.ContainsIndex, a GIN index on data,
//     jsonb_path_ops). Applications can query them with plain SQL (SELECT
//     data->>'total' FROM carts). Queries (projection.Eq,
//     projection.Contains) run as SQL with exactly the results of
//     backend.Match, through an index where that is exact.
//   - WithProjections registers inline projections, run in the append's
//     transaction (a BeforeCommit hook): a read right after the append sees
//     them, and an error rolls the append back.
//   - Store.Processors is the processors' checkpoint store: they keep their
//     checkpoints in emt_processors, written in the same transaction as
//     their read models (Commit, with a compare on the stored checkpoint),
//     and hold a session-level advisory lock with Emmett for Node's key
//     while they run (Lock), so that one instance of a processor runs at a
//     time, Node's included; a waiting instance takes over within a second
//     when the holder's session ends. With WithLeaseLocks, or behind a
//     transaction-mode pooler (WithPooler), the lock is a lease on the
//     processor's row instead, renewed by its holder and taken over once
//     it expires. Their parked events live in
//     emt_parked_messages, written in Commit's transaction.
//   - Source returns the polling source processors read the log from
//     (ReadAll's order and filter), woken at once by this store's appends
//     and, with WithListen, by other processes' (WithNotify); Head and Count
//     make the store a backend.Log and a projection.Counter (rebuild
//     progress).
package postgres
