package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// # Catching up from the table after a stop
//
// A processor that stopped on a checkpoint of the stream (a commit LSN L)
// while a long backlog was appended would otherwise have the walsender
// decode every WAL record of the backlog. It can read the backlog from
// emt_messages instead, as a new processor does with its slot's exported
// snapshot, provided it knows exactly which transactions L covers: those
// whose commit ends at or before L, which no table column tells (positions
// and transaction ids are not in commit order).
//
// A cut says it. The cut of L is a pg_snapshot S and a set X of transaction
// ids such that, for every transaction T with events of the feed (its
// partition, not archived):
//
//	T's commit ends at or before L  <=>  T is visible in S, or T's id is in X.
//
// The source keeps the cut of the position its processor has applied while
// it streams, and writes it down (emt_replication_cuts, one row per slot)
// every CutInterval and when the stream stops. A processor that then
// resumes from exactly that position, with a backlog of at least
// TableCatchUpBytes of WAL, replaces its slot by a new one created with an
// exported snapshot S2 and consistent point C2 (the transactions visible in
// S2 are exactly those committed before C2), reads from the table the
// events visible in S2 and not in the cut (the transactions committed
// after L and before C2: the slot's record keeps the cut, so that a
// processor stopped in the middle resumes it), then streams from C2. Each
// event arrives once: before L (applied), in the table between L and C2,
// or in the stream after C2.
//
// How the source knows the cut of the position it applied. The stream
// delivers every transaction with events committed after the position it
// started from, in commit order, with the transaction id of its events;
// the source adds the id of every transaction it delivered that is not
// visible in its base snapshot S to X once the processor applied it (its
// handler returned). The cut of the applied position L is then (S, X), as
// long as it held for the position the base was established at and S sees
// nothing committed after L. A base is established in three ways:
//
//  1. The slot's record (snapshot S, consistent point C): the cut of C is
//     (S, {}), by the slot's exported snapshot.
//  2. The cut written down for the position the stream starts from.
//  3. Otherwise (a processor that stopped without writing its cut down, a
//     slot made without a snapshot, or to keep X small), the source takes
//     S with the server's next transaction id N and WAL insert position P
//     in one statement (S is the statement's snapshot, taken first), and
//     records from then on the ids of the transactions it delivers that S
//     does not see, X'. A transaction S does not see and that committed
//     before the stream got there (the candidates: the ids in S's xip
//     list and those from S's xmax up to N; ids from N on were assigned
//     after S and commit after every WAL record written before it) cannot
//     be told apart by the stream; so the source waits until every
//     candidate has ended (pg_xact_status), then reads the WAL insert
//     position Q, and adds the committed candidates to X'. Once the
//     processor has applied a position L past both P and Q, (S, X') is
//     the cut of L: every transaction S sees committed before P; one it
//     does not see and that committed at or before L was either delivered
//     since X' was started (it is in X'), or committed before then, hence
//     before S was taken, with an id below N and not ended when S was
//     taken: a committed candidate; and every committed candidate
//     committed before Q. A candidate that has no events of the feed is
//     in X' for nothing: no row of the table has its id.
//
// The source establishes a new base that way whenever X grows past a few
// hundred ids, so that the cut stays small.
//
// An event of a stream archived after it was appended is no longer in the
// table as it was (the stream moved to the archive): a processor catching
// up from the table skips it, as one reading the history of a new slot
// and the polling feed do, where the WAL still has it.

// Cuts the source writes down, one row per slot.
const (
	cutsTableSQL = `CREATE TABLE IF NOT EXISTS emt_replication_cuts (
	slot_name   text        PRIMARY KEY,
	publication text        NOT NULL,
	partition   text        NOT NULL,
	lsn         pg_lsn      NOT NULL,
	snapshot    text        NOT NULL,
	xids        xid8[]      NOT NULL,
	replacing   boolean     NOT NULL DEFAULT false,
	updated_at  timestamptz NOT NULL DEFAULT now()
)`
	readCutSQL  = `SELECT publication, partition, lsn::text, snapshot, xids::text, replacing FROM emt_replication_cuts WHERE slot_name = $1`
	writeCutSQL = `INSERT INTO emt_replication_cuts (slot_name, publication, partition, lsn, snapshot, xids)
VALUES ($1, $2, $3, $4::pg_lsn, $5, $6::text::xid8[])
ON CONFLICT (slot_name) DO UPDATE SET publication = excluded.publication, partition = excluded.partition, lsn = excluded.lsn,
	snapshot = excluded.snapshot, xids = excluded.xids, replacing = false, updated_at = now()`
	replacingCutSQL = `INSERT INTO emt_replication_cuts (slot_name, publication, partition, lsn, snapshot, xids, replacing)
VALUES ($1, $2, $3, $4::pg_lsn, $5, $6::text::xid8[], true)
ON CONFLICT (slot_name) DO UPDATE SET publication = excluded.publication, partition = excluded.partition, lsn = excluded.lsn,
	snapshot = excluded.snapshot, xids = excluded.xids, replacing = true, updated_at = now()`
	deleteCutSQL = `DELETE FROM emt_replication_cuts WHERE slot_name = $1`
	// The statement's snapshot is taken before pg_current_xact_id()
	// assigns an id: every id assigned before the snapshot is below it.
	baseSQL     = `SELECT pg_current_snapshot()::text, pg_current_xact_id()::text, pg_current_wal_insert_lsn()::text`
	statusesSQL = `SELECT x::text, pg_xact_status(x) FROM unnest($1::text::xid8[]) AS x`
)

// maxCutXids bounds the ids of a cut the source keeps: past it, it drops
// the cut and establishes a new base.
const maxCutXids = 100_000

// rebaseXids is the size of a cut from which the source establishes a new
// base, to keep the cut it writes down small.
const rebaseXids = 256

// snapshot is a parsed pg_snapshot.
type snapshot struct {
	text       string
	xmin, xmax uint64
	xip        map[uint64]struct{}
}

func parseSnapshot(text string) (snapshot, error) {
	parts := strings.SplitN(text, ":", 3)
	if len(parts) != 3 {
		return snapshot{}, fmt.Errorf("replication: malformed snapshot %q", text)
	}
	xmin, err1 := strconv.ParseUint(parts[0], 10, 64)
	xmax, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || xmin > xmax {
		return snapshot{}, fmt.Errorf("replication: malformed snapshot %q", text)
	}
	s := snapshot{text: text, xmin: xmin, xmax: xmax, xip: map[uint64]struct{}{}}
	if parts[2] != "" {
		for x := range strings.SplitSeq(parts[2], ",") {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return snapshot{}, fmt.Errorf("replication: malformed snapshot %q", text)
			}
			s.xip[v] = struct{}{}
		}
	}
	return s, nil
}

// sees reports whether a committed transaction is visible in the snapshot.
func (s *snapshot) sees(xid uint64) bool {
	if xid < s.xmin {
		return true
	}
	if xid >= s.xmax {
		return false
	}
	_, running := s.xip[xid]
	return !running
}

// cut is the cut of a WAL position: see above.
type cut struct {
	lsn      uint64
	snapshot string
	xids     []uint64 // ascending
	// replacing: the source began replacing the slot to catch up from the
	// table from lsn (it may have dropped the slot already).
	replacing bool
}

// xidArray is the text form of an xid8[].
func xidArray(xids []uint64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range xids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(x, 10))
	}
	b.WriteByte('}')
	return b.String()
}

func parseXidArray(text string) ([]uint64, error) {
	text = strings.TrimSuffix(strings.TrimPrefix(text, "{"), "}")
	if text == "" {
		return nil, nil
	}
	var out []uint64
	for x := range strings.SplitSeq(text, ",") {
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("replication: malformed xid8[] %q", text)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// readCut reads the cut written down for the slot, if any, for the
// source's publication and partition.
func (s *Source) readCut(ctx context.Context) (cut, bool, error) {
	var publication, partition, lsn, snap, xids string
	var c cut
	err := s.pool.QueryRow(ctx, readCutSQL, s.slot).Scan(&publication, &partition, &lsn, &snap, &xids, &c.replacing)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return cut{}, false, nil
	case err != nil:
		return cut{}, false, fmt.Errorf("replication: reading the cut of slot %q: %w", s.slot, err)
	case publication != s.opts.Publication || partition != s.opts.Partition:
		return cut{}, false, nil
	}
	l, err := pglogrepl.ParseLSN(lsn)
	if err != nil {
		return cut{}, false, err
	}
	c.lsn, c.snapshot = uint64(l), snap
	if c.xids, err = parseXidArray(xids); err != nil {
		return cut{}, false, err
	}
	return c, true, nil
}

// cutKeeper keeps the cut of the position the processor applied, while the
// source streams (see above).
type cutKeeper struct {
	s *Source

	mu      sync.Mutex
	valid   bool // the cut of lsn is (snap, xids)
	snap    snapshot
	xids    map[uint64]struct{}
	lsn     uint64 // the position the processor applied
	written uint64 // the position of the cut last written down
	next    *base  // a base being established
	failed  bool   // establishing a base failed: wait for the next tick
}

// base is a base being established (way 3 above).
type base struct {
	known    bool                // snap, p and cands are set
	raw      []uint64            // ids delivered before snap was known
	snap     snapshot            //
	p        uint64              // the WAL insert position read after snap
	cands    []uint64            // the candidates
	xids     map[uint64]struct{} // delivered since, not visible in snap
	resolved bool                // every candidate ended; the committed ones are in xids
	q        uint64              // the WAL insert position read after the candidates ended
}

func newCutKeeper(s *Source) *cutKeeper { return &cutKeeper{s: s} }

// start sets the base known at the position the stream starts from, if
// any: c is the cut of lsn, already written down or not.
func (k *cutKeeper) start(lsn uint64, c *cut, written bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lsn = lsn
	if c == nil {
		k.valid, k.snap, k.xids = false, snapshot{}, nil
		return
	}
	snap, err := parseSnapshot(c.snapshot)
	if err != nil {
		return
	}
	k.valid, k.snap, k.xids = true, snap, make(map[uint64]struct{}, len(c.xids))
	for _, x := range c.xids {
		if !snap.sees(x) {
			k.xids[x] = struct{}{}
		}
	}
	if written {
		k.written = lsn
	}
}

// applied records that the processor applied events, up to end.
func (k *cutKeeper) applied(events []emmett.RecordedEvent, end uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var last uint64
	for i := range events {
		x := events[i].TransactionID
		if i > 0 && x == last {
			continue
		}
		last = x
		if k.valid && !k.snap.sees(x) {
			k.xids[x] = struct{}{}
		}
		if n := k.next; n != nil {
			switch {
			case !n.known:
				n.raw = append(n.raw, x)
			case !n.snap.sees(x):
				n.xids[x] = struct{}{}
			}
		}
	}
	k.lsn = max(k.lsn, end)
	if len(k.xids) > maxCutXids {
		k.valid, k.xids = false, nil
	}
	if n := k.next; n != nil && (len(n.raw) > maxCutXids || len(n.xids) > maxCutXids) {
		k.next = nil
	}
	if n := k.next; n != nil && n.known && n.resolved && k.lsn >= n.p && k.lsn >= n.q {
		k.valid, k.snap, k.xids, k.next = true, n.snap, n.xids, nil
	}
}

// current returns the cut of the applied position, if the keeper has it.
func (k *cutKeeper) current() (cut, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.valid {
		return cut{}, false
	}
	c := cut{lsn: k.lsn, snapshot: k.snap.text, xids: make([]uint64, 0, len(k.xids))}
	for x := range k.xids {
		c.xids = append(c.xids, x)
	}
	slices.Sort(c.xids)
	return c, true
}

// write writes the cut of the applied position down, unless it was.
func (k *cutKeeper) write(ctx context.Context) error {
	c, ok := k.current()
	if !ok {
		return nil
	}
	k.mu.Lock()
	done := k.written == c.lsn
	k.mu.Unlock()
	if done {
		return nil
	}
	s := k.s
	_, err := s.pool.Exec(ctx, writeCutSQL, s.slot, s.opts.Publication, s.opts.Partition,
		pglogrepl.LSN(c.lsn).String(), c.snapshot, xidArray(c.xids))
	if err != nil {
		return fmt.Errorf("replication: writing the cut of slot %q: %w", s.slot, err)
	}
	k.mu.Lock()
	k.written = c.lsn
	k.mu.Unlock()
	return nil
}

// establish moves the establishing of a new base on, when one is needed.
func (k *cutKeeper) establish(ctx context.Context) error {
	k.mu.Lock()
	n := k.next
	if n == nil {
		if k.valid && len(k.xids) < rebaseXids {
			k.mu.Unlock()
			return nil
		}
		n = &base{xids: map[uint64]struct{}{}}
		k.next = n
	}
	known, resolved := n.known, n.resolved
	k.mu.Unlock()
	s := k.s
	switch {
	case !known:
		var snapText, next, p string
		if err := s.pool.QueryRow(ctx, baseSQL).Scan(&snapText, &next, &p); err != nil {
			k.drop(n)
			return fmt.Errorf("replication: taking a snapshot for the cut of slot %q: %w", s.slot, err)
		}
		snap, err := parseSnapshot(snapText)
		if err != nil {
			k.drop(n)
			return err
		}
		nextXid, err := strconv.ParseUint(next, 10, 64)
		if err != nil {
			k.drop(n)
			return err
		}
		lsn, err := pglogrepl.ParseLSN(p)
		if err != nil {
			k.drop(n)
			return err
		}
		if nextXid < snap.xmax || nextXid-snap.xmax > 1<<16 {
			k.drop(n) // too many ids assigned at once to check them all
			return nil
		}
		cands := make([]uint64, 0, len(snap.xip)+int(nextXid-snap.xmax))
		for x := range snap.xip {
			cands = append(cands, x)
		}
		for x := snap.xmax; x < nextXid; x++ {
			cands = append(cands, x)
		}
		k.mu.Lock()
		if k.next == n {
			n.snap, n.p, n.cands, n.known = snap, uint64(lsn), cands, true
			for _, x := range n.raw {
				if !snap.sees(x) {
					n.xids[x] = struct{}{}
				}
			}
			n.raw = nil
		}
		k.mu.Unlock()
		return k.establish(ctx)
	case !resolved:
		committed, running, err := s.candidates(ctx, n.cands)
		if err != nil {
			k.drop(n)
			return err
		}
		if running {
			return nil // look again at the next tick
		}
		var q string
		if err := s.pool.QueryRow(ctx, insertLSNSQL).Scan(&q); err != nil {
			k.drop(n)
			return err
		}
		lsn, err := pglogrepl.ParseLSN(q)
		if err != nil {
			k.drop(n)
			return err
		}
		k.mu.Lock()
		if k.next == n {
			for _, x := range committed {
				n.xids[x] = struct{}{}
			}
			n.q, n.resolved = uint64(lsn), true
		}
		k.mu.Unlock()
	}
	return nil
}

// drop abandons the base being established.
func (k *cutKeeper) drop(n *base) {
	k.mu.Lock()
	if k.next == n {
		k.next = nil
	}
	k.mu.Unlock()
}

// candidates reads which of xids committed, and whether any is still in
// progress.
func (s *Source) candidates(ctx context.Context, xids []uint64) (committed []uint64, running bool, err error) {
	if len(xids) == 0 {
		return nil, false, nil
	}
	rows, err := s.pool.Query(ctx, statusesSQL, xidArray(xids))
	if err != nil {
		return nil, false, fmt.Errorf("replication: reading the status of transactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x string
		var status *string
		if err := rows.Scan(&x, &status); err != nil {
			return nil, false, err
		}
		switch deref(status) {
		case "committed":
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return nil, false, err
			}
			committed = append(committed, v)
		case "in progress":
			running = true
		}
	}
	return committed, running, rows.Err()
}

// run establishes bases and writes the cut down every CutInterval, until
// ctx ends.
func (k *cutKeeper) run(ctx context.Context) {
	t := time.NewTicker(k.s.opts.CutInterval)
	defer t.Stop()
	for {
		if err := k.establish(ctx); err != nil && ctx.Err() == nil {
			k.s.log.DebugContext(ctx, "replication: establishing a cut", "slot", k.s.slot, "error", err)
		}
		if err := k.write(ctx); err != nil && ctx.Err() == nil {
			k.s.log.DebugContext(ctx, "replication: writing the cut down", "slot", k.s.slot, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
