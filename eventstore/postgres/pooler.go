package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultLease is the lease of a processor lock held as a lease
// (WithLeaseLocks, WithPooler): its holder renews it every third of the
// lease, and another instance takes a processor over at most the lease
// (plus half a second, the longest pause of a waiting Lock) after its
// holder stopped renewing (it died, froze, or lost its way to the
// database): within 21 seconds.
const DefaultLease = 20 * time.Second

// maxLease is the longest lease: Emmett for Node takes a processor's row
// over once its last_updated is older than 300 seconds, so a holder must
// renew well within that.
const maxLease = 5 * time.Minute

// WithPooler configures the store for connections through a
// transaction-mode pooler (PgBouncer's pool_mode = transaction, Amazon RDS
// Proxy, Supavisor...): a pooler that runs each transaction of a client on
// whichever server session is free, so that nothing a session holds
// outlasts a transaction. The store then keeps no session state:
//
//   - Open's pool prepares no named statements (pgx's
//     QueryExecModeCacheDescribe: an unnamed statement, parsed again in
//     the round trip that runs it), as PgBouncer before 1.21 does not
//     carry them across sessions. A pool given to New must be configured
//     so by its owner (pgxpool.Config's ConnConfig.DefaultQueryExecMode,
//     or default_query_exec_mode=cache_describe in the connection string).
//   - Processor locks are leases (WithLeaseLocks, DefaultLease unless
//     WithLeaseLocks says otherwise) instead of session-level advisory
//     locks, which a pooler would release, or leave held, at random.
//   - Sources do not LISTEN (WithListen is ignored and the store logs it):
//     they poll, and appends through the store wake them at once.
//
// Everything else the store does (appends, reads, documents, checkpoints,
// migrations, partitions) runs in single transactions already, and works
// through such a pooler unchanged. Logical replication does not: a
// replication connection is a session of its own, which poolers do not
// carry. A replication source (package eventstore/postgres/replication)
// needs a store and a replication connection on a direct URL to the
// server.
func WithPooler() Option { return func(c *config) { c.pooler = true } }

// WithLeaseLocks makes processor locks leases of the given duration
// instead of session-level advisory locks (the default on direct
// connections; WithPooler implies leases). A lease is the processor's row
// in emt_processors: its processor_instance_id (a fresh UUIDv7 for each
// acquisition) is the holder and the fencing token every checkpoint
// commit is checked against, and its last_updated plus the lease is the
// expiry. The holder renews it every third of the lease and counts it as
// lost (its Lost channel is closed) when a renewal finds another holder,
// or when no renewal has succeeded for two thirds of the lease; another
// instance takes it once it has expired. A commit of an instance whose
// lease was taken over changes nothing and fails with
// projection.ErrLockLost.
//
// A lease holds no connection and lives in no session, so processors
// need no pool connection each, and locks work through poolers and
// across any number of instances. The price: a takeover waits for the
// lease to expire, where a session's end frees an advisory lock at once,
// and each held lock writes its row every third of the lease.
//
// The lease is recorded in the holder's instance id, so an instance
// honours the lease of the holder rather than its own. lease <= 0 means
// DefaultLease; leases longer than 5 minutes are cut to 5 minutes, which
// Emmett for Node honours too (it takes a row not updated for 300
// seconds).
func WithLeaseLocks(lease time.Duration) Option {
	return func(c *config) {
		if lease <= 0 {
			lease = DefaultLease
		}
		c.lease = min(lease, maxLease)
	}
}

// WithLogger sets the logger of what the store reports on its own (that
// its sources poll behind a pooler, say); by default warnings and errors
// go to slog's default logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// notePolling logs, once, that the store's sources poll rather than
// LISTEN, as the store is behind a pooler.
func (s *Store) notePolling() {
	s.pollerNote.Do(func() {
		if s.cfg.listen {
			s.cfg.logger.Warn("postgres: WithListen is ignored behind a transaction-mode pooler (WithPooler), as LISTEN needs a session of its own: sources poll, and other processes' appends are seen at the next poll",
				slog.Bool("pooler", true))
			return
		}
		s.cfg.logger.Info("postgres: behind a transaction-mode pooler (WithPooler) sources poll, without LISTEN: other processes' appends are seen at the next poll",
			slog.Bool("pooler", true))
	})
}

// poolerCancel is the context watcher of a pooled connection: when a
// query's context ends, it sends a cancel request, as the store does on
// direct connections, but lets the request finish (the pooler closes its
// connection once it has passed it on) instead of closing it when the
// query returns. PgBouncer 1.18 dies when a client closes a cancel
// request's connection before the pooler has passed the request on
// (pgbouncer issue 801), which pgx's own
// CancelRequestContextWatcherHandler does when the query ends first.
type poolerCancel struct {
	conn *pgconn.PgConn
	// deadline is how long the query may go on after its context ended
	// before its connection is broken off.
	deadline time.Duration
	// wait is how long a cancel request may take before it is given up.
	wait time.Duration
	done chan struct{}
}

// HandleCancel implements ctxwatch.Handler.
func (h *poolerCancel) HandleCancel(context.Context) {
	_ = h.conn.Conn().SetDeadline(time.Now().Add(h.deadline))
	done := make(chan struct{})
	h.done = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), h.wait)
		defer cancel()
		if h.conn.CancelRequest(ctx) == nil {
			// The cancel request reached the pooler, not yet the query:
			// give it time to arrive before the connection serves the
			// next one (as pgx does).
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// HandleUnwatchAfterCancel implements ctxwatch.Handler: it waits for the
// cancel request to finish before the connection is used again.
func (h *poolerCancel) HandleUnwatchAfterCancel() {
	if h.done != nil {
		<-h.done
		h.done = nil
	}
	_ = h.conn.Conn().SetDeadline(time.Time{})
}
