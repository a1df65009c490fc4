package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
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
// release tracer (releaseGuard) knows when it cancelled a statement.
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

// releaseGuard is the connections' tracer: it traces nothing, but closes
// a connection whose statement was cancelled as the pool takes it back
// (pgxpool.ReleaseTracer, called before the pool decides; a closed
// connection is destroyed). pgxpool's AfterRelease would do the same from
// a goroutine started for every release.
type releaseGuard struct{}

func (releaseGuard) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (releaseGuard) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceRelease implements pgxpool.ReleaseTracer.
func (releaseGuard) TraceRelease(_ *pgxpool.Pool, d pgxpool.TraceReleaseData) {
	if sent, _ := d.Conn.PgConn().CustomData()[cancelSentKey].(*atomic.Bool); sent != nil && sent.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = d.Conn.Close(ctx)
	}
}
