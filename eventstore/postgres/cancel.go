package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// A cancel request reaches the server on a connection of its own, and the
// server signals the backend that runs the statement some time later: on a
// loaded machine (the postmaster forks a process to read the request),
// later than the 100 ms pgx waits before it lets the connection serve
// another query. The signal then cancels whatever the backend runs at that
// moment: another caller's statement, which had nothing to do with the
// context that ended ("canceling statement due to user request"). So the
// pool does not reuse a connection a cancel request was sent for: it
// closes it when it is released, and a dying backend takes the late
// signal.

// cancelSentKey is the key, in a connection's CustomData, of the flag set
// when its context watcher sends a cancel request.
const cancelSentKey = "emmett.cancel-sent"

// markingCancels wraps conn's context watcher h so that the pool's
// AfterRelease (reusable) knows when it cancelled a statement.
func markingCancels(conn *pgconn.PgConn, h ctxwatch.Handler) ctxwatch.Handler {
	sent := new(atomic.Bool)
	conn.CustomData()[cancelSentKey] = sent
	return &cancelMarking{Handler: h, sent: sent}
}

type cancelMarking struct {
	ctxwatch.Handler
	sent *atomic.Bool
}

// HandleCancel implements ctxwatch.Handler.
func (h *cancelMarking) HandleCancel(ctx context.Context) {
	h.sent.Store(true)
	h.Handler.HandleCancel(ctx)
}

// reusable is the pool's AfterRelease: a connection whose statement was
// cancelled is closed rather than reused.
func reusable(c *pgx.Conn) bool {
	sent, _ := c.PgConn().CustomData()[cancelSentKey].(*atomic.Bool)
	return sent == nil || !sent.Load()
}
