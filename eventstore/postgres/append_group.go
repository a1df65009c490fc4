package postgres

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// # Appends that share a transaction
//
// An append with inline projections costs two round trips (prefetch.go),
// and each round trip costs the client and the server system calls and
// wake-ups whatever it carries. When appends wait for a connection of the
// pool, they can share one: the first that waits (the collector) takes in
// the appends that come while it waits, and runs them all in one
// transaction, in the same two round trips: BEGIN, every append's
// statement and every read of its documents in the first batch; every
// document write and the COMMIT in the second. An append that finds a
// connection free runs at once, alone: grouping only ever replaces waiting.
//
// A group is equivalent to its appends run one after another, each
// committing with the others: only appends that a group cannot tell apart
// from that run together. Their streams differ and so do the documents they
// read; every inline projection that handles their events is a
// projection.Prefetcher whose collection exists, so that what it reads was
// read with the statements; and no BeforeCommit hook of the application's
// is set, which could read the log, where the later appends' events are
// already written.
//
// An append whose statement writes nothing in the group (a version
// conflict, or a stream created meanwhile for an append with any expected
// version) then runs alone, after the group, as it would have: its
// conflict is reported with the stream's version. When anything else
// fails (a statement, a projection, a document write, the leader's
// context), the group is rolled back and every append runs alone, so that
// one append's failure never fails another's. Only an unknown outcome (the
// connection lost while the COMMIT was sent) is every append's.

// maxGroup bounds the appends of a group.
const maxGroup = 32

// appendGroups forms the groups of a store.
type appendGroups struct {
	mu        sync.Mutex
	collector *appendGroup // the group whose leader waits for a connection
}

// appendGroup is a group of appends, the first of which (its leader)
// waits for a connection and runs them.
type appendGroup struct {
	members []*groupMember
	streams map[string]bool
	docs    map[docKey]bool
	taken   bool // the leader took the group: no member may join or leave
}

// groupMember is an append of a group.
type groupMember struct {
	ctx   context.Context // the append's: its projections run in it
	c     *appendCall
	reads []prefetchRead
	rows  appendRows
	done  chan struct{} // closed when the group ran, for the members but the leader
	res   eventstore.AppendResult
	err   error
	alone bool // run it alone: the group did not store it
	// panicked is the panic of its projections, for its own goroutine.
	panicked any
}

// fits reports whether m can join the group.
func (g *appendGroup) fits(m *groupMember) bool {
	if g.taken || len(g.members) >= maxGroup || g.streams[m.c.stream] {
		return false
	}
	for _, rd := range m.reads {
		for _, id := range rd.ids {
			if g.docs[docKey{rd.collection, id}] {
				return false
			}
		}
	}
	return true
}

func (g *appendGroup) add(m *groupMember) {
	g.members = append(g.members, m)
	g.mark(m, true)
}

// remove takes m, which leaves, out of the group.
func (g *appendGroup) remove(m *groupMember) {
	g.members = slices.DeleteFunc(g.members, func(x *groupMember) bool { return x == m })
	g.mark(m, false)
}

// mark records that m's stream and documents are taken by the group, or
// no longer are.
func (g *appendGroup) mark(m *groupMember, taken bool) {
	set := func(key docKey) {
		if taken {
			g.docs[key] = true
		} else {
			delete(g.docs, key)
		}
	}
	if taken {
		g.streams[m.c.stream] = true
	} else {
		delete(g.streams, m.c.stream)
	}
	for _, rd := range m.reads {
		for _, id := range rd.ids {
			set(docKey{rd.collection, id})
		}
	}
}

// groupPlan returns the reads of documents c's inline projections will
// make, and whether c may run in a group (see above).
func (s *Store) groupPlan(c *appendCall) ([]prefetchRead, bool) {
	reads, complete := s.prefetchPlan(c)
	return reads, complete && len(s.cfg.beforeCommit) == len(s.cfg.inline)
}

// appendInGroup runs c's append in a group when it waits for a
// connection (see above), or alone (appendInNewTx).
func (s *Store) appendInGroup(ctx context.Context, c *appendCall) (eventstore.AppendResult, error) {
	reads, ok := s.groupPlan(c)
	if !ok {
		return s.appendInNewTxOn(ctx, nil, c, reads)
	}
	m := &groupMember{ctx: ctx, c: c, reads: reads, done: make(chan struct{})}
	gs := &s.groups
	gs.mu.Lock()
	if g := gs.collector; g != nil {
		if !g.fits(m) {
			gs.mu.Unlock()
			return s.appendInNewTxOn(ctx, nil, c, reads)
		}
		g.add(m)
		gs.mu.Unlock()
		select {
		case <-m.done:
		case <-ctx.Done():
			gs.mu.Lock()
			if !g.taken { // leave: nothing was sent
				g.remove(m)
				gs.mu.Unlock()
				return eventstore.AppendResult{}, c.startError(ctx, "waiting for a connection", ctx.Err())
			}
			gs.mu.Unlock()
			<-m.done // the group ends at once: its statements' context ends with ours
		}
		return m.outcome(s)
	}
	g := &appendGroup{streams: map[string]bool{}, docs: map[docKey]bool{}}
	g.add(m)
	gs.collector = g
	gs.mu.Unlock()

	conn, err := s.pool.Acquire(ctx)
	gs.mu.Lock()
	if gs.collector == g {
		gs.collector = nil
	}
	g.taken = true
	members := g.members
	gs.mu.Unlock()
	followers := members[1:]
	if err != nil {
		// The others wait for a connection on their own.
		for _, f := range followers {
			f.alone = true
			close(f.done)
		}
		return eventstore.AppendResult{}, c.startError(ctx, "connecting", err)
	}
	if len(followers) == 0 {
		return s.appendInNewTxOn(ctx, conn, c, reads)
	}
	func() {
		defer conn.Release()
		defer func() {
			for _, f := range followers {
				close(f.done)
			}
		}()
		s.runGroup(ctx, conn, members)
	}()
	return m.outcome(s)
}

// outcome is what the append of m returns once its group ran: its
// result, or the append run alone, or the panic of its projections, which
// goes on in its own goroutine.
func (m *groupMember) outcome(s *Store) (eventstore.AppendResult, error) {
	if m.panicked != nil {
		panic(m.panicked)
	}
	if m.alone {
		return s.appendInNewTx(m.ctx, m.c)
	}
	return m.res, m.err
}

// mergeReads merges reads of documents into one per collection, in the
// collections' order, each id once.
func mergeReads(reads []prefetchRead) []prefetchRead {
	var out []prefetchRead
	for _, rd := range reads {
		i := slices.IndexFunc(out, func(o prefetchRead) bool { return o.collection == rd.collection })
		if i < 0 {
			out = append(out, prefetchRead{collection: rd.collection, ids: slices.Clone(rd.ids)})
			continue
		}
		out[i].ids = append(out[i].ids, rd.ids...)
	}
	slices.SortFunc(out, func(a, b prefetchRead) int { return cmp.Compare(a.collection, b.collection) })
	for i := range out { // a document read by two projections, once
		slices.Sort(out[i].ids)
		out[i].ids = slices.Compact(out[i].ids)
	}
	return out
}

// runGroup runs the appends of a group in one transaction on conn, setting
// each member's result, or alone when the group did not store it.
//
// The statements and the projections run in a context that ends when any
// member's does: a member that gives up breaks the group up at once (each
// then runs alone), rather than waiting for the others. The COMMIT runs
// in one that ends when every member's has: a member that gives up then
// gets its result, stored, rather than making the others' outcome
// unknown. A panic of a member's projections rolls the group back; it goes
// on in that member's goroutine, and the others run alone.
func (s *Store) runGroup(ctx context.Context, conn *pgxpool.Conn, members []*groupMember) {
	var tx pgx.Tx
	// breakUp rolls the group back: each of its appends runs alone.
	breakUp := func() {
		if tx != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
		for _, m := range members {
			m.alone = true
		}
	}
	base := context.WithoutCancel(ctx)
	runCtx, cancelRun := context.WithCancel(base)
	defer cancelRun()
	commitCtx, cancelCommit := context.WithCancel(base)
	defer cancelCommit()
	var left atomic.Int32
	left.Store(int32(len(members)))
	for _, m := range members {
		defer context.AfterFunc(m.ctx, func() {
			cancelRun()
			if left.Add(-1) == 0 {
				cancelCommit()
			}
		})()
	}

	// Locks are taken in one order, whatever the group: the streams' rows
	// by name, then the documents by collection and id (as an append alone
	// takes them: its stream, then its documents), so that groups do not
	// deadlock one another.
	members = slices.SortedFunc(slices.Values(members), func(a, b *groupMember) int {
		return cmp.Or(cmp.Compare(a.c.stream, b.c.stream), cmp.Compare(a.c.partition, b.c.partition))
	})
	var reads []prefetchRead
	for _, m := range members {
		reads = append(reads, m.reads...)
	}
	docs := make(map[docKey]prefetchedDoc)
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	for _, m := range members {
		b.Queue(m.c.sql, m.c.args...).Query(m.rows.collect)
	}
	queuePrefetch(b, mergeReads(reads), docs)
	var current *groupMember // whose projections run
	committed := false
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if !committed {
			breakUp()
			if current != nil {
				// Its projections panicked: the panic is its append's.
				current.alone, current.panicked = false, p
				return
			}
		}
		panic(p) // the store's own: in the leader's goroutine
	}()
	br := conn.SendBatch(runCtx, b)
	tx = br.Tx()
	if err := br.Close(); err != nil {
		if isUndefinedTable(err) {
			for _, rd := range reads {
				s.docs.forget(rd.collection)
			}
		}
		breakUp()
		return
	}
	st := &txState{tx: tx}
	htx := s.deferWrites(st)
	st.docs.prefetched = docs
	stored := 0
	for _, m := range members {
		if m.rows.n == 0 {
			m.alone = true // wrote nothing: a conflict, or a stream created meanwhile
			continue
		}
		// Each append's projections see its own context's values; the
		// group's statements run in runCtx.
		current = m
		res, err := s.afterAppend(context.WithValue(mergeCancel(m.ctx, runCtx), txStateKey{}, st), htx, m.c, &m.rows)
		if err != nil {
			breakUp()
			return
		}
		m.res = res
		stored++
	}
	current = nil
	if stored == 0 { // every append runs alone
		breakUp()
		return
	}
	written, err := st.commit(commitCtx, htx)
	committed = true
	switch {
	case err == nil:
		s.docs.commit(st)
	case written == notWritten:
		breakUp() // commit rolled it back already
	default:
		for _, m := range members {
			if !m.alone {
				m.res, m.err = eventstore.AppendResult{}, wrapAppendError(m.ctx, err, written, m.c.stream, m.c.partition, m.c.ids)
			}
		}
	}
}

// mergeCancel returns ctx, ended also when other ends.
func mergeCancel(ctx, other context.Context) context.Context {
	merged, cancel := context.WithCancel(ctx)
	context.AfterFunc(other, cancel)
	return merged
}
