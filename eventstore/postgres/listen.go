package postgres

import (
	"context"
	"time"
)

// sleep waits for d; it reports false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return true
}

// listenLoop calls notify for every notification on emt_messages (for the
// partition, or any when ""), until ctx ends. It reconnects after errors.
func (s *Store) listenLoop(ctx context.Context, partition string, notify func()) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := s.pool.Acquire(ctx)
		if err == nil {
			// Ending ctx closes the connection, which ends the wait at
			// once (a cancel request would not: no query runs).
			// (The socket is taken now: the func may run while the
			// connection is hijacked below.)
			socket := conn.Conn().PgConn().Conn()
			stop := context.AfterFunc(ctx, func() { _ = socket.Close() })
			if _, err = conn.Exec(ctx, "LISTEN emt_messages"); err == nil {
				pause = 100 * time.Millisecond
				for {
					n, werr := conn.Conn().WaitForNotification(ctx)
					if werr != nil {
						break
					}
					if partition == "" || n.Payload == partition {
						notify()
					}
				}
			}
			// The connection is in an unknown state (LISTEN, or a
			// wait cut short): do not give it back to the pool.
			stop()
			_ = conn.Hijack().Close(context.Background())
		}
		if !sleep(ctx, pause) {
			return
		}
		pause = min(2*pause, 5*time.Second)
	}
}
