package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// DefaultBusyTimeout is how long a connection waits for a lock another
// process holds before it gives up with SQLITE_BUSY.
const DefaultBusyTimeout = 5 * time.Second

// SyncMode is SQLite's synchronous setting for a file database opened with
// Open: how hard a commit pushes data to the disk before it returns.
type SyncMode string

const (
	// SyncFull syncs the write-ahead log on every commit: an acknowledged
	// append survives a power loss. The default.
	SyncFull SyncMode = "FULL"
	// SyncNormal syncs only at checkpoints: an acknowledged append survives
	// a crash of the process, but the last commits before a power loss or
	// an operating-system crash may be lost (the database stays
	// consistent, and no append is ever half there).
	SyncNormal SyncMode = "NORMAL"
	// SyncOff never syncs: for throwaway databases and tests.
	SyncOff SyncMode = "OFF"
)

// Option configures a Store.
type Option func(*config)

type config struct {
	maxEventBytes int
	now           func() time.Time
	busyTimeout   time.Duration
	sync          SyncMode
	maxReaders    int
	beforeCommit  []BeforeCommitHook
	inline        []*inlineRunner
	leaseTTL      time.Duration
	telemetry     telemetry.Config
}

func newConfig(opts []Option) (config, error) {
	c := config{
		maxEventBytes: eventstore.DefaultMaxEventBytes,
		now:           time.Now,
		busyTimeout:   DefaultBusyTimeout,
		sync:          SyncFull,
		maxReaders:    max(4, runtime.GOMAXPROCS(0)),
		leaseTTL:      DefaultLeaseTTL,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	switch strings.ToUpper(string(c.sync)) {
	case "FULL", "NORMAL", "OFF", "EXTRA":
	default:
		return c, fmt.Errorf("sqlite: unknown synchronous mode %q", c.sync)
	}
	if c.maxEventBytes <= 0 {
		c.maxEventBytes = eventstore.DefaultMaxEventBytes
	}
	if c.maxReaders < 1 {
		c.maxReaders = 1
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.leaseTTL <= 0 {
		c.leaseTTL = DefaultLeaseTTL
	}
	return c, nil
}

// WithMaxEventBytes sets the largest event (data plus metadata, in bytes)
// an append accepts; eventstore.DefaultMaxEventBytes by default.
func WithMaxEventBytes(n int) Option { return func(c *config) { c.maxEventBytes = n } }

// WithTelemetry sets where the store's spans and measurements go (appends
// and reads; see the telemetry package); the global OpenTelemetry
// providers by default.
func WithTelemetry(cfg telemetry.Config) Option { return func(c *config) { c.telemetry = cfg } }

// WithClock sets the clock that stamps appended events (time.Now by
// default). Stored times are UTC, truncated to the microsecond.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (or another *sql.DB on the same file) before failing;
// DefaultBusyTimeout by default. Open sets it on every connection it opens;
// New leaves it to the caller's connection settings.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithSynchronous sets the synchronous mode of a file database opened with
// Open (SyncFull by default). New leaves the caller's setting alone.
func WithSynchronous(mode SyncMode) Option { return func(c *config) { c.sync = mode } }

// WithMaxReaders bounds the pool of reader connections Open creates for a
// file database; max(4, GOMAXPROCS) by default.
func WithMaxReaders(n int) Option { return func(c *config) { c.maxReaders = n } }

// BeforeCommitHook is called inside the transaction of an append, after its
// events are written and before it commits: inline projections run here, so
// that the read model changes if and only if the events are stored. An error
// rolls the append back and is returned by the append.
//
// tx is the append's transaction (statements on it see the new events);
// result is what the append will return; partition is the stream's
// partition. The hook runs while the store's single writer is held: it must
// not append, nor wait for another connection of the writer pool.
type BeforeCommitHook func(ctx context.Context, tx *sql.Tx, partition string, result eventstore.AppendResult) error

// WithBeforeCommit adds a hook that runs inside every append's transaction.
func WithBeforeCommit(hook BeforeCommitHook) Option {
	return func(c *config) { c.beforeCommit = append(c.beforeCommit, hook) }
}

// Store is an event store in a SQLite database. It is safe for concurrent
// use. The zero value is not usable; call Open or New.
type Store struct {
	cfg config
	tel *instrument.Store

	w *writer
	// readers serves reads: the reader pool, or the writer's pool when
	// reads share it (an in-memory database, or New without readers).
	readers *sql.DB
	rd      readStmts
	ps      procStmts
	// own are the pools Open created, closed by Close.
	own []*sql.DB

	closed atomic.Bool
	notify notifier
	// queue holds the appends waiting for the writer (see group.go).
	queue appendQueue

	docs   docRegistry // the document collections known to exist
	leases leaseSet    // the processor locks held
}

var _ eventstore.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path with the
// driver DriverName names (modernc.org/sqlite; github.com/ncruces/go-sqlite3
// on js/wasm and wasip1), brings its schema up to date, and returns a
// store on it. Close the store when done.
//
// path is a file name or a "file:" URI (https://www.sqlite.org/uri.html),
// to which Open adds its own connection settings: WAL mode, the busy
// timeout, the synchronous mode, IMMEDIATE transactions (so a file name
// that contains '?' must be given as a URI). A file database gets one
// writer connection and a pool of reader connections (WithMaxReaders).
// On js/wasm and wasip1, where the driver cannot lock files, a file
// database is opened with nolock=1 in one connection that reads and
// writes share, with a rollback journal instead of WAL: one Store (one
// process) may use the file at a time.
//
// path ":memory:" (or "") opens a private in-memory database: it lives in
// one connection that reads and writes share, and it is gone when the store
// is closed. So does a URI naming another in-memory database (mode=memory,
// or vfs=memdb: ncruces's in-memory VFS, which the application registers
// by importing github.com/ncruces/go-sqlite3/vfs/memdb).
//
// The errors of opening a file database name path ("sqlite: data/app.db:
// connecting: unable to open database file (14)"), and wrap the cause
// (ErrSchemaTooNew, the driver's error).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", cfg.busyTimeout.Milliseconds())
	syncMode := "_pragma=synchronous(" + string(cfg.sync) + ")"
	switch {
	case isMemory(path):
		if path == "" {
			path = ":memory:"
		}
		return openSingle(ctx, cfg, path)
	case !fileLocking:
		s, err := openSingle(ctx, cfg, fileDSN(path, busy, syncMode, "_txlock=immediate"))
		if err != nil {
			return nil, &fileError{path, err}
		}
		return s, nil
	}

	writer, err := sql.Open(DriverName, fileDSN(path, busy, "_pragma=journal_mode(WAL)", syncMode, "_txlock=immediate"))
	if err != nil {
		return nil, &fileError{path, err}
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	readers, err := sql.Open(DriverName, fileDSN(path, busy, "_pragma=query_only(1)"))
	if err != nil {
		_ = writer.Close()
		return nil, &fileError{path, err}
	}
	readers.SetMaxOpenConns(cfg.maxReaders)
	readers.SetMaxIdleConns(cfg.maxReaders)
	s, err := newStore(ctx, cfg, writer, readers, true)
	if err != nil {
		_ = readers.Close()
		_ = writer.Close()
		return nil, &fileError{path, err}
	}
	s.own = []*sql.DB{writer, readers}
	return s, nil
}

// openSingle opens a store on one connection to dsn, which reads and
// writes share: an in-memory database (the connection is the database),
// or a file the driver cannot lock.
func openSingle(ctx context.Context, cfg config, dsn string) (*Store, error) {
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return nil, err
	}
	// Keep exactly one connection, forever.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s, err := newStore(ctx, cfg, db, nil, true)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.own = []*sql.DB{db}
	return s, nil
}

// fileError is an error of Open on a database file, which it names:
// "sqlite: data/app.db: connecting: unable to open database file (14)".
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	return "sqlite: " + e.path + ": " + strings.TrimPrefix(e.err.Error(), "sqlite: ")
}

func (e *fileError) Unwrap() error { return e.err }

// New returns a store on databases the caller opened, with any database/sql
// SQLite driver, and brings the schema up to date. Appends are serialized
// in Go, one transaction at a time on writer; readers serves reads. readers
// may be nil, or writer itself: reads then share writer's pool, which is
// what an in-memory database in a one-connection pool needs.
//
// New changes no setting of the databases. Set them when opening writer:
// a busy timeout (so that another process's lock is waited for) and WAL
// mode for a file database (so that reads run beside the writer). The
// driver's transaction mode does not matter: the store's write
// transactions take the write lock with their first statement, so
// DEFERRED ones (modernc.org/sqlite's default) wait for other processes
// as IMMEDIATE ones do. Close closes neither pool.
//
// New is tested with modernc.org/sqlite and github.com/ncruces/go-sqlite3.
// What it needs of a driver is plain database/sql: numbered parameters
// (?NNN), RowsAffected, TEXT columns scanned into strings and
// sql.RawBytes, and SQLite 3.38 or later (UPSERT, the JSON functions);
// a driver that interrupts a statement when its context ends makes
// cancellation prompt. Busy and missing-table errors are recognized by
// SQLite's result code when the driver's error has a Code method
// returning it (both drivers above), and by SQLite's message text
// otherwise.
func New(ctx context.Context, writer, readers *sql.DB, opts ...Option) (*Store, error) {
	if writer == nil {
		return nil, errors.New("sqlite: New needs a writer *sql.DB")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, cfg, writer, readers, false)
}

// newStore returns a store on the pools; immediate is whether writerDB's
// transactions hold the write lock from their start (Open's do: its file
// connections begin IMMEDIATE, and its in-memory database has no other
// connection).
func newStore(ctx context.Context, cfg config, writerDB, readers *sql.DB, immediate bool) (*Store, error) {
	if readers == nil {
		readers = writerDB
	}
	s := &Store{cfg: cfg, readers: readers, w: &writer{sem: make(chan struct{}, 1), db: writerDB, immediate: immediate},
		tel: instrument.NewStore(cfg.telemetry, "github.com/emmett-go/emmett/eventstore/sqlite", "sqlite", trace.SpanKindInternal)}
	s.cfg.beforeCommit = slices.Clone(cfg.beforeCommit)
	for _, r := range s.cfg.inline {
		r.s = s
	}
	if err := s.init(ctx); err != nil {
		s.closeStatements()
		return nil, err
	}
	for _, r := range s.cfg.inline {
		if err := backend.EnsureIndexes(ctx, s.Documents(), r.projections); err != nil {
			s.closeStatements()
			return nil, fmt.Errorf("sqlite: creating the indexes of inline projections: %w", err)
		}
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	conn, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: connecting: %w", err)
	}
	err = migrate(ctx, conn, s.cfg.now)
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := s.w.prepare(ctx); err != nil {
		return err
	}
	if err := s.ps.prepare(ctx, s.w.db, s.readers); err != nil {
		return err
	}
	return s.rd.prepare(ctx, s.readers)
}

// connect opens the writer's connection. Its first statements put a new
// database into WAL mode, which SQLite may refuse with SQLITE_BUSY without
// waiting for its busy timeout while another connection (another store, or
// another process, opening the same new file) does the same: that is tried
// again, until the busy timeout.
func (s *Store) connect(ctx context.Context) (*sql.Conn, error) {
	deadline := time.Now().Add(s.cfg.busyTimeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		conn, err := s.w.db.Conn(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// Close waits for a running append (or processor transaction) to finish,
// releases the processor locks the store holds, then its statements; every
// later call fails with eventstore.ErrClosed. It closes the databases Open
// opened, not the ones passed to New. Close is idempotent.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.w.sem <- struct{}{} // no write is running, and none will start
	defer func() { <-s.w.sem }()
	s.releaseAll()
	s.closeStatements()
	var err error
	for _, db := range s.own {
		err = errors.Join(err, db.Close())
	}
	return err
}

func (s *Store) closeStatements() {
	s.docs.close()
	s.ps.close()
	s.rd.close()
	s.w.close()
}

// isMemory reports whether path names an in-memory database.
func isMemory(path string) bool {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return true
	}
	_, query, _ := strings.Cut(path, "?")
	for _, kv := range strings.Split(query, "&") {
		if kv == "mode=memory" || kv == "vfs=memdb" {
			return true
		}
	}
	return false
}

// withParams adds driver parameters to a file name or URI.
func withParams(path string, params ...string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + strings.Join(params, "&")
}

// preparer is what statements are prepared on.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// notifier tells in-process waiters that an append committed, for pollers
// (async processors) that would otherwise sleep. It costs nothing to an
// append while nobody waits.
type notifier struct {
	mu   sync.Mutex
	ch   chan struct{} // closed at the next commit; nil while nobody waits
	last int64         // global position of the last committed event
}

// wait returns a channel closed when an append commits after the call,
// and the global position of the last event committed before it.
func (n *notifier) wait() (<-chan struct{}, int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch, n.last
}

// publish records a commit and wakes the waiters.
func (n *notifier) publish(last int64) {
	n.mu.Lock()
	n.last = last
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
