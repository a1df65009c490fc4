package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// Group commit. SQLite has one writer at a time, and each commit of a file
// database waits for its fsync: appends that arrive while a transaction
// runs would each wait for the writer, then for their own fsync. Instead
// they queue, and the next append to get the writer (the leader) runs all
// the queued ones in one transaction, each inside a savepoint of its own,
// and commits them with one fsync. An append that fails (a version
// conflict, a hook's error) is rolled back to its savepoint and fails
// alone; the others commit. Every append returns once the COMMIT that
// holds it is done, so an append that returned is on disk, as before; and
// appends to one stream in one group run one after the other, each seeing
// the ones before it, as they would in transactions of their own. An
// append that arrives when nobody writes is a group of one and waits for
// nothing.
//
// An append whose context ends while it waits returns the context's error
// with nothing stored. Once a leader runs it, its statements run with its
// context: one that ends then rolls it back to its savepoint, unless it
// ran to its end first, and then it commits with its group and succeeds.

// maxGroup bounds the appends committed together.
const maxGroup = 64

// groupAppend is an append waiting in the queue, then its outcome.
type groupAppend struct {
	ctx      context.Context
	stream   string
	o        eventstore.AppendOptions
	prepared []backend.PreparedEvent
	recorded []emmett.RecordedEvent

	res  eventstore.AppendResult
	err  error
	done chan struct{}
}

// appendQueue holds the appends waiting for the writer.
type appendQueue struct {
	mu      sync.Mutex
	waiting []*groupAppend
}

func (q *appendQueue) push(a *groupAppend) {
	q.mu.Lock()
	q.waiting = append(q.waiting, a)
	q.mu.Unlock()
}

// take removes and returns up to maxGroup appends, the oldest first, and
// the leader's own append mine if it is waiting further back.
func (q *appendQueue) take(mine *groupAppend) []*groupAppend {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.waiting), maxGroup)
	group := q.waiting[:n:n]
	rest := q.waiting[n:]
	if i := slices.Index(rest, mine); i >= 0 {
		group = append(group, mine)
		rest = slices.Delete(rest, i, i+1)
	}
	q.waiting = append([]*groupAppend(nil), rest...)
	return group
}

// remove takes a out of the queue; false when a leader took it already.
func (q *appendQueue) remove(a *groupAppend) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.waiting {
		if x == a {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// len is the number of appends waiting.
func (q *appendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// appendGrouped queues a and returns once a group holding it committed or
// failed: run by this call, when it gets the writer first, or by another.
func (s *Store) appendGrouped(a *groupAppend) (eventstore.AppendResult, error) {
	w := s.w
	s.queue.push(a)
	for {
		select {
		case <-a.done:
			return a.res, a.err
		case <-a.ctx.Done():
			if s.queue.remove(a) {
				return eventstore.AppendResult{}, a.ctx.Err()
			}
			<-a.done // a leader runs it: its outcome is the one stored
			return a.res, a.err
		case w.sem <- struct{}{}:
			func() {
				defer w.release() // even when a hook panics
				if group := s.queue.take(a); len(group) > 0 {
					s.runGroup(w, group)
				}
			}()
			// A leader that took a ran it before releasing the writer.
		}
	}
}

// runGroup runs the appends of group in one transaction and commits it;
// the caller holds the writer. Each append's outcome is set, and its done
// closed, once the transaction that holds it is over.
func (s *Store) runGroup(w *writer, group []*groupAppend) {
	var tx *sql.Tx
	committed := false
	defer func() {
		if p := recover(); p != nil {
			// A hook panicked: the transaction is rolled back, every
			// append of the group fails, and the panic goes on in the
			// leader's goroutine.
			if !committed {
				if tx != nil {
					_ = tx.Rollback()
				}
				for _, a := range group {
					a.res, a.err = eventstore.AppendResult{}, fmt.Errorf("sqlite: append to stream %q: not stored: an append of its commit group panicked: %v", a.stream, p)
				}
				s.docs.dropPending()
			}
			for _, a := range group {
				close(a.done)
			}
			panic(p)
		}
		for _, a := range group {
			close(a.done)
		}
	}()
	if s.closed.Load() {
		for _, a := range group {
			a.err = eventstore.ErrClosed
		}
		return
	}
	for _, a := range group {
		if err := w.prepareInserts(a.ctx, len(a.prepared)); err != nil {
			a.err = s.writeError(a.ctx, a.stream, "preparing the insert", err)
		}
	}
	// An append that breaks the group's transaction (see runOnce) leaves
	// the others to run again, in a new one, without it.
	again := group
	for len(again) > 0 {
		again, committed = s.runOnce(w, again, &tx)
	}
}

// runOnce runs the appends of group that have no outcome yet in one
// transaction (*tx while it runs) and commits it, and reports whether it
// committed. Normally an append that fails is rolled back to its savepoint
// and fails alone. But SQLite ends the whole transaction on some errors (a
// statement interrupted as its context ended, an I/O error), and then
// ROLLBACK TO finds no savepoint: that append fails, and the appends that
// ran in the transaction before it, and those after, are returned to run
// again, their writes gone with the transaction.
func (s *Store) runOnce(w *writer, group []*groupAppend, tx **sql.Tx) (again []*groupAppend, committed bool) {
	// The transaction is the group's: no one append's context ends it.
	// Each append's statements run with its own context.
	t, err := w.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, a := range group {
			if a.err == nil {
				a.err = s.writeError(a.ctx, a.stream, "starting the transaction", err)
			}
		}
		return nil, false
	}
	*tx = t // for runGroup to roll back if a hook panics
	created := s.cfg.now().UTC().Truncate(time.Microsecond)
	bg := context.Background()
	savepoints := len(group) > 1
	var ran []*groupAppend // stored so far, in the transaction
	for i, a := range group {
		if a.err != nil {
			continue
		}
		if err := a.ctx.Err(); err != nil {
			a.err = err
			continue
		}
		if savepoints {
			if _, err := t.ExecContext(bg, "SAVEPOINT emt_append"); err != nil {
				a.err = s.writeError(a.ctx, a.stream, "starting the transaction", err)
				return s.broken(t, ran, group[i+1:]), false
			}
		}
		a.res, a.err = s.appendTx(a.ctx, t, w, a.stream, a.o, a.prepared, a.recorded, created)
		if a.err == nil && savepoints {
			if _, err := t.ExecContext(bg, "RELEASE emt_append"); err != nil {
				a.res, a.err = eventstore.AppendResult{}, s.writeError(a.ctx, a.stream, "releasing its savepoint", err)
				return s.broken(t, ran, group[i+1:]), false
			}
		}
		if a.err != nil {
			a.res = eventstore.AppendResult{}
			if savepoints {
				if _, err := t.ExecContext(bg, "ROLLBACK TO emt_append"); err != nil {
					return s.broken(t, ran, group[i+1:]), false
				}
				if _, err := t.ExecContext(bg, "RELEASE emt_append"); err != nil {
					return s.broken(t, ran, group[i+1:]), false
				}
			}
			// Collections its inline projections created are rolled back
			// with it; the others are checked again when next used.
			s.docs.dropPending()
			continue
		}
		ran = append(ran, a)
	}
	if len(ran) == 0 {
		_ = t.Rollback()
		return nil, false
	}
	if err := t.Commit(); err != nil {
		s.docs.dropPending()
		for _, a := range ran {
			a.res, a.err = eventstore.AppendResult{}, s.writeError(a.ctx, a.stream, "committing", err)
		}
		return nil, false
	}
	// Collections the inline projections created exist now.
	s.docs.commitPending(s)
	return nil, true
}

// broken ends a transaction an append broke (see runOnce) and returns the
// appends to run again: those that ran in it before, whose writes are
// gone, and those that had not run yet.
func (s *Store) broken(t *sql.Tx, ran, rest []*groupAppend) []*groupAppend {
	_ = t.Rollback()
	s.docs.dropPending()
	again := make([]*groupAppend, 0, len(ran)+len(rest))
	for _, a := range ran {
		a.res, a.err = eventstore.AppendResult{}, nil
		again = append(again, a)
	}
	for _, a := range rest {
		if a.err == nil {
			again = append(again, a)
		}
	}
	return again
}
