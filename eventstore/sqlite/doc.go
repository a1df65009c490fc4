// Package sqlite is the embedded event store of Emmett for Go: an
// eventstore.Store kept in one SQLite database file, with no server to run.
// It is built on database/sql; [Open] uses the pure-Go driver
// modernc.org/sqlite (no cgo), and [New] takes a *sql.DB from any SQLite
// driver.
//
// # Storage
//
// The tables keep the names and meanings Emmett for Node uses: emt_streams
// holds one row per stream with its version, emt_messages one row per event,
// and emt_processors and emt_projections hold the state of processors and
// projections. global_position is an INTEGER PRIMARY KEY AUTOINCREMENT:
// SQLite has a single writer, so the global log has no gaps, and a position
// is never handed out twice. Streams live in partitions (tenants or modules,
// see eventstore.InPartition) in a partition column; there is no table
// partitioning and no transaction id, so positions read back with
// TransactionID 0.
//
// The schema is created and upgraded by versioned migrations, recorded in the
// emt_migrations table, when a store is opened. A database written by a newer
// version of this package is refused with an error matching
// [ErrSchemaTooNew], rather than written to with the wrong assumptions.
//
// # Connections and concurrency
//
// A Store is safe for concurrent use. Appends are serialized in Go and run
// one at a time, each in its own transaction on the writer pool (Open gives
// it one connection, and IMMEDIATE transactions): the expected version is
// checked in the WHERE clause of the statement that moves the stream's
// version, and the stream row and all the events are committed together or
// not at all. Other processes (or other stores) on the same file take turns
// through SQLite's lock, waiting up to the busy timeout. A file database is
// put in WAL mode, so reads run on a pool of reader connections in parallel
// with the writer and never block it. Reads page through a stream (a
// bounded number of events per query), so a long stream is read in bounded
// memory and no cursor stays open while the caller's loop body runs.
//
// An in-memory database (Open with ":memory:") lives in one connection,
// which reads and writes share, one at a time: the only arrangement in
// which every reader sees every write. It is gone when the store is closed.
//
// # Inline work in the append's transaction
//
// [WithBeforeCommit] adds a hook that runs inside every append's
// transaction, after the events are written and before COMMIT, with the
// *sql.Tx and the append's result: inline projections run there, so that a
// read model changes if and only if the events are stored.
//
// # Durability
//
// By default a file database commits with synchronous=FULL: an append that
// returned without error survives a crash of the process and of the
// machine. [WithSynchronous](SyncNormal) trades the last few commits on a
// power loss for up to five times the write throughput (docs/performance.md
// has the figures); a crash of the process alone loses nothing in either
// mode, and the database is never left corrupt or with part of an append.
package sqlite
