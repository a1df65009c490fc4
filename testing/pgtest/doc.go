// Package pgtest gives tests a throwaway PostgreSQL.
//
// A test package that needs PostgreSQL runs its tests through Main, and each
// test asks for a fresh database of its own:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		connString := pgtest.NewDatabase(t) // a new, empty database
//		pool, err := pgxpool.New(ctx, connString)
//		...
//	}
//
// Tests that all start from the same schema take a copy of a template
// database instead, which their setup (migrations, say) prepares once:
//
//	connString := pgtest.NewDatabaseFrom(t, "migrated", migrate)
//
// Where the server comes from:
//
//   - When EMMETT_POSTGRES_URL is set, it is used as it is: every database is
//     created on that server (the URL's role must be allowed to CREATE
//     DATABASE) and dropped when its test ends. Such a server cannot be
//     stopped or restarted by the tests.
//   - Otherwise pgtest runs its own server from the local installation:
//     initdb and postgres from EMMETT_POSTGRES_BIN, PATH or
//     /usr/lib/postgresql/*/bin (the newest), in a temporary directory,
//     listening on a free port of 127.0.0.1 and on a unix socket inside that
//     directory, with wal_level=logical and room for replication slots. When
//     the tests run as root, the server runs as the postgres OS user (initdb
//     refuses root). The server is started on first use, one per test
//     binary, and stopped and removed when Main returns. If the test binary
//     dies instead (a panic, a -timeout, a kill), the kernel stops the server
//     with it (Linux's parent-death signal), and the next run removes the
//     directory it left.
//
// Without a server (no URL and no local installation) the tests that ask for
// one are skipped with a message that says why. With
// EMMETT_REQUIRE_POSTGRES=1 (as CI sets it) they fail instead, so that a
// missing PostgreSQL never passes for a green run.
//
// A test of code that must work through a transaction-mode pooler puts a
// real PgBouncer (pool_mode = transaction) in front of the server with
// NewBouncer (or Server.StartBouncer), and connects through its URL. It is
// Debian's pgbouncer program (EMMETT_PGBOUNCER, PATH or /usr/sbin), run as
// the server's OS user when the tests run as root. Without it the test is
// skipped, or fails under EMMETT_REQUIRE_POSTGRES=1.
//
// A test of reads from a streaming-replication standby starts one with
// NewStandby (or Server.StartStandby): pg_basebackup -R copies a server
// pgtest started into a hot standby of its own, which follows it and
// serves reads; Server.WaitReplayed waits until it has replayed what
// committed on its primary.
//
// The default server favours speed: fsync, synchronous_commit and
// full_page_writes are off, so a crash of the machine may lose the last
// commits (a crash of the server does not). A test that measures or needs
// durability starts a server of its own with StartServer(Options{Durable:
// true}).
package pgtest
