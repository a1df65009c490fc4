package postgres

import (
	"context"
	"iter"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// PollOptions configure Store.Poll.
type PollOptions struct {
	// Partition restricts the events to one partition; "" reads all.
	Partition string
	// BatchSize is the most events fetched per query; 500 when 0.
	BatchSize int
	// MinWait is the pause after a poll that found nothing, doubled after
	// each further empty poll up to MaxWait; 10ms and 1s when 0.
	MinWait, MaxWait time.Duration
	// Listen makes the poller LISTEN on the channel emt_messages, on a
	// connection of its own taken from the pool, and poll as soon as a
	// notification comes: writers in other processes notify when their
	// store has WithNotify. Appends through this Store wake its pollers
	// without it.
	Listen bool
}

func (o PollOptions) withDefaults() PollOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.MinWait <= 0 {
		o.MinWait = 10 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	o.MaxWait = max(o.MaxWait, o.MinWait)
	return o
}

// Poll follows the global log: it yields the events after the position, in
// the order of ReadAll, then waits for more and yields them as they commit,
// until ctx ends (it yields ctx's error then) or the loop stops. It is the
// feed of processors where logical replication is not available.
//
// Every event is yielded exactly once and in order, whatever order
// concurrent transactions commit in: an event is yielded only once every
// transaction older than its own has ended. Checkpoint
// eventstore.PositionOf(event) to resume after it.
//
// An error of the database (a lost connection, a restart) is yielded too;
// the loop may stop then, or go on, and Poll tries again after a pause,
// from the last event yielded.
func (s *Store) Poll(ctx context.Context, after eventstore.Position, opts PollOptions) iter.Seq2[emmett.RecordedEvent, error] {
	o := opts.withDefaults()
	return func(yield func(emmett.RecordedEvent, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var remote <-chan struct{}
		if o.Listen {
			remote = s.listen(ctx, o.Partition)
		}
		wait := o.MinWait
		var page []emmett.RecordedEvent
		for {
			if err := ctx.Err(); err != nil {
				yield(emmett.RecordedEvent{}, err)
				return
			}
			local := s.appended.wait() // before reading: a later append wakes us
			var err error
			page, err = s.readAllPage(ctx, after, o.Partition, int64(o.BatchSize), page[:0])
			if err != nil {
				if ctx.Err() != nil {
					yield(emmett.RecordedEvent{}, ctx.Err())
					return
				}
				if !yield(emmett.RecordedEvent{}, err) {
					return
				}
				wait = min(2*wait, o.MaxWait)
				if !sleep(ctx, wait, nil, nil) {
					yield(emmett.RecordedEvent{}, ctx.Err())
					return
				}
				continue
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) > 0 {
				after = eventstore.PositionOf(page[len(page)-1])
				wait = o.MinWait
				if len(page) == o.BatchSize {
					continue // more to read
				}
			}
			if woken := sleep(ctx, wait, local, remote); !woken {
				yield(emmett.RecordedEvent{}, ctx.Err())
				return
			}
			if len(page) == 0 {
				wait = min(2*wait, o.MaxWait)
			}
		}
	}
}

// sleep waits for d, or a wake-up; it reports false when ctx ended.
func sleep(ctx context.Context, d time.Duration, local, remote <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-local:
	case <-remote:
	}
	return true
}

// listen delivers a signal for every notification on emt_messages (for the
// partition, or any when ""), until ctx ends. It reconnects after errors.
func (s *Store) listen(ctx context.Context, partition string) <-chan struct{} {
	signals := make(chan struct{}, 1)
	go s.listenLoop(ctx, partition, func() {
		select {
		case signals <- struct{}{}:
		default:
		}
	})
	return signals
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
		if !sleep(ctx, pause, nil, nil) {
			return
		}
		pause = min(2*pause, 5*time.Second)
	}
}
