package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/telemetry"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// Store is the PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	cfg      config
	tel      *instrument.Store
	closed   atomic.Bool
	appended broadcast // woken after every append, for pollers in this process

	docs      docRegistry  // the document collections known to exist
	groups    appendGroups // appends waiting for a connection, to share one (append_group.go)
	byteOrder bool         // the database's collation orders _id byte by byte
	locks     lockSet      // the processor locks held
	listener  struct {     // the LISTEN of WithListen, from the first Source on
		once   sync.Once
		cancel context.CancelFunc
		done   chan struct{}
	}
	pollerNote sync.Once // logs, once, that Sources poll behind a pooler
}

var _ eventstore.Store = (*Store)(nil)

type config struct {
	maxEventBytes        int
	pageSize             int
	migrate              bool
	autoCreatePartitions bool
	notify               bool
	readAllWait          time.Duration
	beforeCommit         []BeforeCommitHook
	telemetry            telemetry.Config
	inline               []*inlineRunner
	listen               bool
	pooler               bool          // WithPooler
	lease                time.Duration // WithLeaseLocks (or WithPooler's default); 0 for advisory locks
	logger               *slog.Logger
}

// Option configures a Store.
type Option func(*config)

// WithMaxEventBytes sets the largest event (data plus metadata) an append
// accepts; eventstore.DefaultMaxEventBytes by default.
func WithMaxEventBytes(n int) Option { return func(c *config) { c.maxEventBytes = n } }

// WithTelemetry sets where the store's spans and measurements go (appends
// and reads; see the telemetry package); the global OpenTelemetry
// providers by default.
func WithTelemetry(cfg telemetry.Config) Option { return func(c *config) { c.telemetry = cfg } }

// WithPageSize sets how many events a read fetches per query (1000 by
// default): the memory a read holds, and the number of round trips of a long
// read.
func WithPageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithoutMigration keeps Open and New from creating or upgrading the schema;
// run Migrate (or `emmett migrate`) separately then.
func WithoutMigration() Option { return func(c *config) { c.migrate = false } }

// WithAutoCreatePartitions makes an append to a partition that does not
// exist yet create it (as AddPartition does) and retry, instead of failing
// with ErrPartitionNotFound. Creating a partition is DDL: the role needs the
// rights, and it briefly locks the tables against other appends.
func WithAutoCreatePartitions() Option { return func(c *config) { c.autoCreatePartitions = true } }

// WithNotify makes every append send a NOTIFY on the channel emt_messages
// (the payload is the partition), so that the polling sources of stores in
// other processes (WithListen) wake up at once. The price: PostgreSQL serialises the
// commits of notifying transactions, so appends no longer share commits as
// freely.
func WithNotify() Option { return func(c *config) { c.notify = true } }

// WithListen makes the store's Sources wake up as soon as another
// process's store appends (one with WithNotify): the store keeps a
// connection of its pool LISTENing on the channel emt_messages, from its
// first Source on, until Close. Appends through this store wake its Sources
// without it.
func WithListen() Option { return func(c *config) { c.listen = true } }

// WithReadAllWait sets how long ReadAll waits, before it reads, for the
// transactions in progress when it was called (1 second by default; 0 does
// not wait). ReadAll never returns an event while an older transaction is
// still open, as that one could still commit events that come before it;
// waiting lets a ReadAll see what committed just before it was called.
func WithReadAllWait(d time.Duration) Option { return func(c *config) { c.readAllWait = max(d, 0) } }

// BeforeCommitHook is called inside the transaction of an append, after its
// events are written and before it commits: inline projections run here, so
// that the read model changes if and only if the events are stored. An error
// rolls the append back and is returned by the append.
//
// result is what the append will return; partition is the stream's
// partition.
type BeforeCommitHook func(ctx context.Context, tx pgx.Tx, partition string, result eventstore.AppendResult) error

// WithBeforeCommit adds a hook that runs inside every append's transaction.
// With hooks, an append takes a few round trips (BEGIN, the append, the
// hooks' statements, COMMIT) instead of one.
func WithBeforeCommit(hook BeforeCommitHook) Option {
	return func(c *config) { c.beforeCommit = append(c.beforeCommit, hook) }
}

func newConfig(opts []Option) config {
	c := config{
		maxEventBytes: eventstore.DefaultMaxEventBytes,
		pageSize:      1000,
		migrate:       true,
		readAllWait:   time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.pooler && c.lease == 0 {
		c.lease = DefaultLease
	}
	c.logger = instrument.Logger(c.logger)
	return c
}

// Open connects to the database connString names (a URL or keyword/value
// string, as pgx takes them), creates or upgrades the schema (unless
// WithoutMigration) and returns a store that owns its connection pool: Close
// closes it.
//
// The pool cancels a statement on the server when its context ends, so an
// append cancelled while it runs is rolled back rather than left unknown;
// the connection is then closed, not reused, so that a late cancel signal
// cannot reach another caller's statement (see cancel.go).
// With WithPooler, its connections prepare no named statements (pgx's
// QueryExecModeCacheDescribe), unless connString sets
// default_query_exec_mode.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg := newConfig(opts)
	if cfg.pooler && !strings.Contains(connString, "default_query_exec_mode") {
		// No named prepared statements: a transaction-mode pooler
		// runs a client's next transaction on any server session.
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	pcfg.ConnConfig.BuildContextWatcherHandler = func(conn *pgconn.PgConn) ctxwatch.Handler {
		if cfg.pooler {
			return markingCancels(conn, &poolerCancel{conn: conn, deadline: 2 * time.Second, wait: 10 * time.Second})
		}
		return markingCancels(conn, &pgconn.CancelRequestContextWatcherHandler{
			Conn:               conn,
			CancelRequestDelay: 0,
			DeadlineDelay:      2 * time.Second,
		})
	}
	pcfg.ConnConfig.Tracer = releaseGuard{}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New returns a store on a pool the caller owns (and closes), creating or
// upgrading the schema unless WithoutMigration is given.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s := &Store{pool: pool, cfg: newConfig(opts)}
	s.tel = instrument.NewStore(s.cfg.telemetry, "github.com/emmett-go/emmett/eventstore/postgres", "postgres", trace.SpanKindClient)
	s.appended.init()
	for _, r := range s.cfg.inline {
		r.s = s
	}
	if s.cfg.migrate {
		if err := Migrate(ctx, pool); err != nil {
			return nil, err
		}
	}
	// When this fails, documents are ordered with COLLATE "C": always
	// right, slower.
	_ = pool.QueryRow(ctx, byteOrderSQL).Scan(&s.byteOrder)
	for _, r := range s.cfg.inline {
		if err := backend.EnsureIndexes(ctx, s.Documents(), r.projections); err != nil {
			return nil, fmt.Errorf("postgres: creating the indexes of inline projections: %w", err)
		}
	}
	return s, nil
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Migrate creates or upgrades the store's schema; see the package function
// Migrate.
func (s *Store) Migrate(ctx context.Context) error { return Migrate(ctx, s.pool) }

// Close makes every later call fail with eventstore.ErrClosed, releases
// the processor locks the store holds and stops its LISTEN (WithListen),
// and closes the pool if Open created it (waiting for the connections in
// use to come back). It always returns nil; the error is there for
// io.Closer.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopListener()
	s.releaseAll()
	s.appended.notify()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// broadcast wakes every waiter at once.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) init() { b.ch = make(chan struct{}) }

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
