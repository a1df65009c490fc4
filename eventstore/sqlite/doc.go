// Package sqlite is the embedded event store of Emmett for Go: an
// eventstore.Store kept in one SQLite database file, with no server to run.
// It is built on database/sql; [Open] uses the pure-Go driver
// modernc.org/sqlite (no cgo), and, on js/wasm and wasip1 where modernc
// does not build, github.com/ncruces/go-sqlite3 (SQLite compiled to Wasm
// and translated to Go, no cgo either; the build constraints of
// driver_modernc.go and driver_ncruces.go choose, see [DriverName]).
// [New] takes a *sql.DB from any SQLite driver (tested with both; New
// says what a driver must provide).
//
// # Storage
//
// The tables keep the names and meanings Emmett for Node uses: emt_streams
// holds one row per stream with its version, emt_messages one row per event,
// and emt_processors the checkpoints and leases of processors
// (emt_projections, where Emmett for Node records the status of its
// projections, is created for the same layout and not written). Emmett
// for Go adds emt_parked_messages, the events processors parked (see
// projection.ParkOnFailure). global_position is an INTEGER PRIMARY KEY
// AUTOINCREMENT: SQLite has a single writer, so the global log has no gaps,
// and a position is never handed out twice. Streams live in partitions (tenants or modules,
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
// one at a time on the writer pool (Open gives it one connection). The
// appends that arrive while one runs wait, and then commit together (group
// commit): the next to get the writer runs all those waiting in one
// transaction, each in a savepoint of its own (one that fails, on a
// version conflict or a hook's error, is rolled back alone), with one
// COMMIT and one fsync for all, and each returns once that COMMIT is done.
// An append that finds nobody writing commits alone, at once. Every write transaction holds the database's write
// lock from its first statement (Open's transactions are IMMEDIATE; with
// New, whatever the driver's transaction mode, the first statement
// writes), so none reads before it writes, which SQLite would refuse at
// once under contention instead of waiting. The expected version is
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
// # Projections
//
// The store is a complete projection backend (see package projection):
//
//   - [Store.Documents] keeps JSON documents in collections, one table per
//     collection with the layout of Pongo (the document store of Emmett for
//     Node), created on first use; applications can query them with plain
//     SQL and SQLite's JSON functions. Find and Count translate
//     projection.Eq and projection.Contains to SQL with backend.Match's
//     exact semantics.
//   - [WithProjections] registers inline projections, run by a
//     BeforeCommit hook in each append's transaction; an error in one rolls
//     the append back. Their projection.Tx gives the documents bound to the
//     transaction, and Unwrap returns the *sql.Tx.
//   - Store.Processors is the processors' checkpoint store: checkpoints live in
//     emt_processors with Node's columns (the global position, zero-padded
//     to 19 digits), and its Commit moves one in the same transaction
//     as the projection's writes, compared in the UPDATE. Its Lock is a
//     lease in the processor's row, renewed by a heartbeat (see
//     [WithLeaseTTL]), so that one instance of a processor runs at a time
//     against a database file, across processes; a crashed holder's lease
//     expires after the TTL, and Commit is fenced on the holder's instance
//     id, so an instance that lost its lease writes nothing. Its parked
//     events live in emt_parked_messages, written in Commit's transaction.
//   - [Store.Source] is a polling source over the global log, woken in
//     process right after each append, with an exact count for rebuild
//     progress.
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
