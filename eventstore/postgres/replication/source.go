package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/internal/backoff"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// HistoryLSN is the LSN of the positions of events read from the table in
// a new slot's snapshot, before the slot's consistent point: it comes
// before every real WAL position (so that WaitFor never takes an event of
// the history for one of the stream), and marks the position as one to
// resume inside that snapshot, by (TransactionID, GlobalPosition).
const HistoryLSN = 1

// walTx is the transaction id of the positions the source makes from a WAL
// position alone (Head's, Target's). eventstore.Position orders two
// positions with an LSN by it, and a position with one and a position
// without (the start of the log, a position of the table's order) by
// (TransactionID, GlobalPosition): with the largest transaction id, these
// come after every position without an LSN, as the stream does.
const walTx = math.MaxUint64

// walPosition is the position of a WAL position alone.
func walPosition(lsn uint64) eventstore.Position {
	return eventstore.Position{LSN: lsn, TransactionID: walTx}
}

// Source is a projection.Source fed by PostgreSQL's logical replication:
// see the package documentation. One Source serves one processor (one
// slot); it is safe for concurrent use by the processor and by WaitFor
// callers.
type Source struct {
	pool     *pgxpool.Pool
	store    *postgres.Store // nil for a source made without one
	opts     config
	slot     string
	database string
	connCfg  *pgconn.Config
	log      *slog.Logger

	slotMu      sync.Mutex // creating and dropping the slot
	setupDone   atomic.Bool
	slotEnsured atomic.Bool
	wakeOff     atomic.Bool // pg_logical_emit_message is not allowed

	serverMu         sync.Mutex // guards what is read of the server once
	walBlock, walSeg uint64
	version          int

	gaugeMu   sync.Mutex
	unobserve func() // stops the slot's gauges, while they are registered
	closed    bool

	mu      sync.Mutex
	active  *stream // the stream this source runs, while it runs one
	waitLSN uint64  // the highest target of local waiters
	head    struct {
		lsn      uint64
		snapshot string
	}
}

var (
	_ projection.Source     = (*Source)(nil)
	_ projection.Counter    = (*Source)(nil)
	_ projection.TimeSeeker = (*Source)(nil)
)

// NewSource returns a source reading the events of store through a logical
// replication slot: the one SlotName gives for processorID, or the one
// WithSlot names. Nothing is created until the source is used.
func NewSource(store *postgres.Store, processorID string, opts ...Option) (*Source, error) {
	s, err := newSource(store.Pool(), newConfig(processorID, opts))
	if err != nil {
		return nil, err
	}
	s.store = store
	return s, nil
}

func newSource(pool *pgxpool.Pool, opts config) (*Source, error) {
	s := &Source{pool: pool, opts: opts, log: opts.Logger}
	cfg := pool.Config().ConnConfig
	s.database = cfg.Database
	if s.database == "" {
		s.database = cfg.User
	}
	s.connCfg = opts.ConnConfig
	if s.connCfg == nil {
		s.connCfg = &cfg.Config
	}
	switch {
	case opts.Slot != "":
		s.slot = opts.Slot
	case opts.ProcessorID != "":
		s.slot = SlotName(s.database, opts.ProcessorID)
	default:
		return nil, errors.New("replication: a processor id or a slot (WithSlot) is required")
	}
	if err := validateName("slot", s.slot); err != nil {
		return nil, err
	}
	if strings.ContainsAny(opts.Publication, "'\\") {
		return nil, fmt.Errorf("replication: invalid publication name %q", opts.Publication)
	}
	return s, nil
}

// Slot returns the name of the source's replication slot.
func (s *Source) Slot() string { return s.slot }

// Publication returns the name of the publication the source reads.
func (s *Source) Publication() string { return s.opts.Publication }

// connect opens a replication connection (replication=database).
func (s *Source) connect(ctx context.Context) (*pgconn.PgConn, error) {
	cfg := s.connCfg.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+4)
	for k, v := range cfg.RuntimeParams {
		params[k] = v
	}
	params["replication"] = "database"
	params["application_name"] = "emmett " + s.slot
	params["DateStyle"] = "ISO"
	params["TimeZone"] = "UTC"
	cfg.RuntimeParams = params
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replication: connecting for replication: %w", err)
	}
	return conn, nil
}

// Subscribe implements projection.Source. It must only be called by the
// holder of the processor's lock (as projection.Processor does): it takes
// the slot over from any walsender still holding it, which can only be one
// of an instance that lost the lock.
//
// Where it starts depends on after:
//
//   - a position of the stream (its LSN is a WAL position): the slot's
//     stream, from there; commits ending at or before it are skipped. A
//     slot that cannot serve it (dropped, invalidated, or moved past it)
//     gives a *SlotError.
//   - the zero position, or one without an LSN (a polling feed's, or one
//     given to projection.StartAfter): the events of the table after it,
//     in a snapshot taken with the slot, then the slot's stream from its
//     consistent point. The slot is created for that, or dropped and
//     created again when its snapshot does not fit (it has streamed since,
//     or was made without one).
//   - a position of such a history (LSN HistoryLSN): the rest of that
//     history, then the stream.
//
// Lost connections and server restarts are retried with backoff, from the
// last batch handle returned nil for.
func (s *Source) Subscribe(ctx context.Context, after eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	s.observe()
	pos := after
	attempt := 0
	for {
		before := pos
		err := s.subscribeOnce(ctx, &pos, handle)
		var herr *handlerError
		switch {
		case errors.As(err, &herr):
			return herr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			err = errors.New("replication: the stream ended")
		case permanent(err):
			s.log.ErrorContext(ctx, "replication: feed stopped", "slot", s.slot, "checkpoint", pos.String(), "error", err)
			return err
		}
		if pos != before {
			attempt = 0
		}
		attempt++
		s.log.WarnContext(ctx, "replication: feed interrupted, reconnecting", "slot", s.slot, "attempt", attempt, "checkpoint", pos.String(), "error", err)
		if err := backoff.Wait(ctx, attempt, s.opts.RetryMin, s.opts.RetryMax); err != nil {
			return err
		}
	}
}

// permanentError marks an error that retrying cannot cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) bool {
	var pe *permanentError
	var se *SlotError
	if errors.As(err, &pe) || errors.As(err, &se) {
		return true
	}
	code := pgCode(err)
	switch {
	case code == "":
		return false
	case strings.HasPrefix(code, "42"), strings.HasPrefix(code, "0A"), strings.HasPrefix(code, "22"), strings.HasPrefix(code, "28"):
		return true // syntax, privileges, missing objects, data, authentication
	case code == codeNotInPrereqState:
		return true // wal_level is no longer logical, and the like
	}
	return false
}

func (s *Source) subscribeOnce(ctx context.Context, pos *eventstore.Position, handle func(context.Context, projection.Batch) error) error {
	if err := s.setup(ctx); err != nil {
		return err
	}
	st, err := s.readSlot(ctx)
	if err != nil {
		return err
	}
	slotErr := func(base error, reason string) error {
		return &SlotError{Slot: s.slot, Checkpoint: *pos, Reason: reason, Err: base}
	}
	switch {
	case pos.LSN > HistoryLSN:
		c, found, err := s.readCut(ctx)
		if err != nil {
			return err
		}
		if found && c.lsn != pos.LSN {
			found = false
		}
		if !found && st.hasRecord && uint64(st.consistentPoint) == pos.LSN {
			// The slot's snapshot is the cut of its consistent point.
			c, found = cut{lsn: pos.LSN, snapshot: st.snapshot}, true
		}
		replace := false
		switch {
		case found && c.replacing && st.exists && !st.lost() && st.hasRecord && st.exclude != nil &&
			st.confirmedFlush == st.consistentPoint && st.exclude.snapshot == c.snapshot && slices.Equal(st.exclude.xids, c.xids):
			// The slot was replaced to catch up from the table from
			// here, and nothing of its history was applied yet.
			return s.historyThenStream(ctx, pos, st, handle)
		case found && c.replacing:
			// Replacing the slot to catch up from the table was under
			// way: go on. A slot there is not the one made for it (that
			// one would be the case above): Head made it meanwhile,
			// without a snapshot, or the replacement's creation was cut
			// short. The checkpoint is still the cut's, so nothing was
			// applied from it; replaceSlot drops it.
			replace = true
		case !st.exists:
			return slotErr(ErrCheckpointUnreachable, "the slot does not exist")
		case st.lost():
			return slotErr(ErrSlotInvalidated, "the server removed WAL the slot needed (wal_status "+st.walStatus+"; see max_slot_wal_keep_size)")
		case uint64(st.confirmedFlush) > pos.LSN:
			return slotErr(ErrCheckpointUnreachable, fmt.Sprintf("the slot has confirmed %s, past the checkpoint: it cannot replay what lies between", st.confirmedFlush))
		case found && s.opts.TableCatchUpBytes >= 0 && uint64(st.currentLSN) >= pos.LSN+uint64(s.opts.TableCatchUpBytes):
			replace = true
		}
		if !replace {
			var base *cut
			if found {
				base = &c
			}
			return s.stream(ctx, pos, st, base, handle)
		}
		if st, err = s.replaceSlot(ctx, *pos, c, st); err != nil {
			return err
		}
	case pos.LSN == HistoryLSN:
		if !st.exists || st.lost() || !st.hasRecord || st.confirmedFlush != st.consistentPoint {
			return slotErr(ErrCheckpointUnreachable, "the checkpoint is inside the history of the slot's snapshot, and the slot was dropped, invalidated or moved since")
		}
	default:
		reuse := st.exists && !st.lost() && st.hasRecord && st.confirmedFlush == st.consistentPoint && st.exclude == nil
		if reuse && !pos.IsZero() {
			// A position of the table's order: every event at or before
			// it must be in the snapshot.
			xmin, err := snapshotXmin(st.snapshot)
			reuse = err == nil && pos.TransactionID < xmin
		}
		if !reuse {
			if st.exists {
				s.log.InfoContext(ctx, "replication: recreating the slot to read the history in a snapshot of its own", "slot", s.slot, "checkpoint", pos.String())
				if err := s.dropSlot(ctx); err != nil {
					return err
				}
			}
			if st, err = s.createSlot(ctx, nil); err != nil {
				return err
			}
		}
	}
	return s.historyThenStream(ctx, pos, st, handle)
}

// historyThenStream delivers the history of the slot's snapshot after pos,
// then streams from its consistent point.
func (s *Source) historyThenStream(ctx context.Context, pos *eventstore.Position, st slotState, handle func(context.Context, projection.Batch) error) error {
	if err := s.history(ctx, pos, st, handle); err != nil {
		return err
	}
	return s.stream(ctx, pos, st, nil, handle)
}

// replaceSlot replaces the slot by one made with an exported snapshot, to
// catch the processor up from the table from pos, whose cut is c (see
// cut.go). The cut is marked first: a source that stops after the old slot
// is dropped and before the new one is made goes on from there.
func (s *Source) replaceSlot(ctx context.Context, pos eventstore.Position, c cut, st slotState) (slotState, error) {
	s.log.InfoContext(ctx, "replication: catching up from the table", "slot", s.slot, "checkpoint", pos.String(),
		"backlog_bytes", int64(st.currentLSN)-int64(pos.LSN))
	if _, err := s.pool.Exec(ctx, replacingCutSQL, s.slot, s.opts.Publication, s.opts.Partition,
		pglogrepl.LSN(c.lsn).String(), c.snapshot, xidArray(c.xids)); err != nil {
		return st, fmt.Errorf("replication: marking the cut of slot %q: %w", s.slot, err)
	}
	if st.exists {
		if err := s.dropSlot(ctx); err != nil {
			return st, err
		}
	}
	return s.createSlot(ctx, &c)
}

// snapshotXmin reads the xmin of a pg_snapshot's text form (xmin:xmax:xips).
func snapshotXmin(snapshot string) (uint64, error) {
	x, _, _ := strings.Cut(snapshot, ":")
	return strconv.ParseUint(x, 10, 64)
}

// normalizeSnapshot returns a pg_snapshot's text form (xmin:xmax:xips)
// that pg_snapshot's input accepts. A snapshot exported by the creation of
// a logical slot can have its xmin past its xmax ("9069:9068:"), which
// pg_current_snapshot() prints as it is but which does not parse back:
// every transaction below xmax is complete and none from xmax on is
// visible, so xmin = xmax, without the in-progress ids from xmax on, sees
// the same transactions.
func normalizeSnapshot(snapshot string) string {
	parts := strings.SplitN(snapshot, ":", 3)
	if len(parts) != 3 {
		return snapshot
	}
	xmin, err1 := strconv.ParseUint(parts[0], 10, 64)
	xmax, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || xmin <= xmax {
		return snapshot
	}
	var xips []string
	for x := range strings.SplitSeq(parts[2], ",") {
		if v, err := strconv.ParseUint(x, 10, 64); err == nil && v < xmax {
			xips = append(xips, x)
		}
	}
	return parts[1] + ":" + parts[1] + ":" + strings.Join(xips, ",")
}

// walSizes returns the WAL page and segment sizes of the server.
func (s *Source) walSizes(ctx context.Context) (block, segment uint64, err error) {
	s.serverMu.Lock()
	defer s.serverMu.Unlock()
	if s.walBlock == 0 {
		var b, g int64
		if err := s.pool.QueryRow(ctx, walSizesSQL).Scan(&b, &g); err != nil {
			return 0, 0, err
		}
		s.walBlock, s.walSeg = uint64(b), uint64(g)
	}
	return s.walBlock, s.walSeg, nil
}

// Page header sizes of the WAL: every page starts with one, the first page
// of a segment with a long one.
const (
	shortPageHeader = 24
	longPageHeader  = 40
)

// insertPosition reads the server's WAL insert position: every commit that
// returned before it ends at or before it. When it points just past a page
// header (the WAL ended exactly at the page boundary), it is moved back to
// the boundary, the end position of the last record as the walsender
// reports it, so that an idle server can be seen to have reached it.
func (s *Source) insertPosition(ctx context.Context, text string) (uint64, error) {
	lsn, err := pglogrepl.ParseLSN(text)
	if err != nil {
		return 0, err
	}
	block, segment, err := s.walSizes(ctx)
	if err != nil {
		return 0, err
	}
	l := uint64(lsn)
	switch {
	case l%segment == longPageHeader:
		l -= longPageHeader
	case l%block == shortPageHeader && l%segment != shortPageHeader:
		l -= shortPageHeader
	}
	return l, nil
}

// Head implements projection.Source: the server's current WAL position, which
// the stream then reaches promptly even when idle, as for Target. It creates the slot (without a snapshot) when it does not exist yet, so
// that a processor that starts from the end (projection.StartFromEnd)
// misses nothing appended after it.
func (s *Source) Head(ctx context.Context) (eventstore.Position, error) {
	if err := s.ensureSlot(ctx); err != nil {
		return eventstore.Position{}, err
	}
	s.observe()
	var text, snapshot string
	if err := s.pool.QueryRow(ctx, headSQL).Scan(&text, &snapshot); err != nil {
		return eventstore.Position{}, fmt.Errorf("replication: reading the WAL position: %w", err)
	}
	lsn, err := s.insertPosition(ctx, text)
	if err != nil {
		return eventstore.Position{}, err
	}
	s.mu.Lock()
	s.head.lsn, s.head.snapshot = lsn, snapshot
	s.mu.Unlock()
	// A processor that reaches the head stops there (a rebuild), or a
	// caller waits for it: make the stream get there even when idle.
	s.addWaiter(lsn)
	return walPosition(lsn), nil
}

// Target implements projection.Source: the server's WAL position read after
// the append returned, which the append's commit ends at or before.
//
// When this source is streaming, it then makes sure the server tells it
// promptly how far it has decoded, so that WaitFor returns within
// milliseconds even when nothing else is committed. When it is not (the
// processor runs in another instance), the position is that of a logical
// decoding message it emits for the instance that streams, which takes it
// as a request to checkpoint that far.
func (s *Source) Target(ctx context.Context, appended eventstore.Position) (eventstore.Position, error) {
	if appended.IsZero() || appended.LSN == HistoryLSN {
		return appended, nil
	}
	target := appended.LSN // a position of the stream already (Head's, a checkpoint)
	s.mu.Lock()
	local := s.active != nil
	s.mu.Unlock()
	if !local && !s.wakeOff.Load() {
		var text string
		err := s.pool.QueryRow(ctx, wakeSQL, wakePrefix, s.slot).Scan(&text)
		if err == nil {
			lsn, err := pglogrepl.ParseLSN(text)
			if err != nil {
				return eventstore.Position{}, err
			}
			if target == 0 {
				target = uint64(lsn)
			}
			s.addWaiter(target)
			return walPosition(target), nil
		}
		if !permanent(err) {
			return eventstore.Position{}, fmt.Errorf("replication: reading the WAL position: %w", err)
		}
		s.wakeOff.Store(true)
		s.log.WarnContext(ctx, "replication: cannot emit logical decoding messages; WaitFor in instances not running the processor waits for the next checkpoint", "error", err)
	}
	if target == 0 {
		var text string
		if err := s.pool.QueryRow(ctx, insertLSNSQL).Scan(&text); err != nil {
			return eventstore.Position{}, fmt.Errorf("replication: reading the WAL position: %w", err)
		}
		lsn, err := s.insertPosition(ctx, text)
		if err != nil {
			return eventstore.Position{}, err
		}
		target = lsn
	}
	s.addWaiter(target)
	return walPosition(target), nil
}

// TargetFor implements projection.ProcessorTargeter: Target for the
// source of processor processorID, whose slot is taken to be the one
// SlotName names (a slot set with WithSlot elsewhere is not known here: a
// wait for its processor then ends with its next checkpoint past the
// target, at the latest once its idle slot advances). The processor's
// instance takes the logical decoding message emitted for its slot as a
// request to checkpoint that far.
func (s *Source) TargetFor(ctx context.Context, processorID string, appended eventstore.Position) (eventstore.Position, error) {
	slot := SlotName(s.database, processorID)
	if slot == s.slot || appended.IsZero() || appended.LSN == HistoryLSN || s.wakeOff.Load() {
		return s.Target(ctx, appended)
	}
	var text string
	if err := s.pool.QueryRow(ctx, wakeSQL, wakePrefix, slot).Scan(&text); err != nil {
		if permanent(err) {
			return s.Target(ctx, appended)
		}
		return eventstore.Position{}, fmt.Errorf("replication: reading the WAL position: %w", err)
	}
	lsn, err := pglogrepl.ParseLSN(text)
	if err != nil {
		return eventstore.Position{}, err
	}
	if appended.LSN != 0 {
		return walPosition(appended.LSN), nil // a position of the stream already
	}
	return walPosition(uint64(lsn)), nil
}

// addWaiter records that a caller waits for the processor to reach lsn,
// and wakes the stream.
func (s *Source) addWaiter(lsn uint64) {
	s.mu.Lock()
	s.waitLSN = max(s.waitLSN, lsn)
	st := s.active
	s.mu.Unlock()
	if st != nil {
		st.wakeConsumer()
	}
}

func (s *Source) waiting() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitLSN
}

// PositionAt implements projection.TimeSeeker, for processors started with
// projection.StartFromTime: the store's PositionAt, a position of the
// table's order, from which the source catches up as from an append's.
func (s *Source) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	if s.store == nil {
		return eventstore.Position{}, errors.New("replication: a source without its store (NewSource) cannot start from a time")
	}
	return s.store.PositionAt(ctx, t)
}

// Count implements projection.Counter for a rebuild: the events from the
// start up to the position Head returned last (those visible in the
// snapshot read with it). It returns -1 for other ranges.
func (s *Source) Count(ctx context.Context, after, upTo eventstore.Position) (int64, error) {
	s.mu.Lock()
	head := s.head
	s.mu.Unlock()
	if !after.IsZero() || upTo.LSN == 0 || upTo.LSN != head.lsn {
		return -1, nil
	}
	q := `SELECT count(*) FROM emt_messages WHERE is_archived = FALSE AND pg_visible_in_snapshot(transaction_id, $1::pg_snapshot)`
	args := []any{head.snapshot}
	if s.opts.Partition != "" {
		q += ` AND partition = $2`
		args = append(args, s.opts.Partition)
	}
	var n int64
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("replication: counting events: %w", err)
	}
	return n, nil
}

// serverVersion returns server_version_num (0 when it cannot be read).
func (s *Source) serverVersion(ctx context.Context) int {
	s.serverMu.Lock()
	defer s.serverMu.Unlock()
	if s.version == 0 {
		_ = s.pool.QueryRow(ctx, serverVersionSQL).Scan(&s.version)
	}
	return s.version
}

// Status is the state of a source's slot, for metrics and operations.
type Status struct {
	// Slot and Publication name them.
	Slot, Publication string
	// Exists reports whether the slot exists.
	Exists bool
	// Active reports whether a walsender streams from the slot, and
	// ActivePID is its process id (0 when none).
	Active    bool
	ActivePID int32
	// WALStatus is pg_replication_slots.wal_status: "reserved" and
	// "extended" are healthy, "unreserved" is about to lose WAL, "lost"
	// means the slot was invalidated (see ErrSlotInvalidated).
	WALStatus string
	// SafeWALSize is how many more bytes of WAL can be written before the
	// slot is at risk of invalidation (-1 when max_slot_wal_keep_size is
	// unlimited).
	SafeWALSize int64
	// CurrentLSN is the server's WAL insert position, RestartLSN the
	// oldest WAL the slot retains, ConfirmedFlushLSN what its consumer has
	// confirmed as durably applied.
	CurrentLSN, RestartLSN, ConfirmedFlushLSN pglogrepl.LSN
	// RetainedBytes is the WAL the slot keeps on disk (CurrentLSN -
	// RestartLSN); LagBytes is how far its consumer is behind
	// (CurrentLSN - ConfirmedFlushLSN).
	RetainedBytes, LagBytes int64
	// ConsistentPoint is where the stream began when the source created
	// the slot with a snapshot (0 when it did not).
	ConsistentPoint pglogrepl.LSN
}

// Status returns the state of the slot.
func (s *Source) Status(ctx context.Context) (Status, error) {
	if err := s.setup(ctx); err != nil {
		return Status{}, err
	}
	st, err := s.readSlot(ctx)
	if err != nil {
		return Status{}, err
	}
	out := Status{Slot: s.slot, Publication: s.opts.Publication, Exists: st.exists, Active: st.active,
		WALStatus: st.walStatus, SafeWALSize: -1, CurrentLSN: st.currentLSN, RestartLSN: st.restartLSN,
		ConfirmedFlushLSN: st.confirmedFlush}
	if st.activePID != nil {
		out.ActivePID = *st.activePID
	}
	if st.safeWALSize != nil {
		out.SafeWALSize = *st.safeWALSize
	}
	if st.hasRecord {
		out.ConsistentPoint = st.consistentPoint
	}
	if st.exists {
		if st.restartLSN != 0 && st.currentLSN > st.restartLSN {
			out.RetainedBytes = int64(st.currentLSN - st.restartLSN)
		}
		if st.confirmedFlush != 0 && st.currentLSN > st.confirmedFlush {
			out.LagBytes = int64(st.currentLSN - st.confirmedFlush)
		}
	}
	return out, nil
}

// DropSlot drops the source's slot, ending the walsender streaming from it
// if any, and forgets its snapshot. A slot keeps WAL on the server until it
// is dropped: drop the slot of a processor that is retired. A processor
// that runs again after its slot was dropped resumes only from the start or
// from a position of the table's order (a rebuild); from a checkpoint of
// the stream it stops with a *SlotError.
//
// It also stops the slot's gauges until the source is used again.
func (s *Source) DropSlot(ctx context.Context) error {
	s.stopObserving(false)
	// Without its cut, a processor resuming from a checkpoint of the
	// dropped slot stops with a *SlotError, as documented.
	if _, err := s.pool.Exec(ctx, deleteCutSQL, s.slot); err != nil && pgCode(err) != "42P01" {
		return fmt.Errorf("replication: dropping slot %q: %w", s.slot, err)
	}
	if err := s.dropSlot(ctx); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "replication: dropped slot", "slot", s.slot)
	return nil
}

// Close stops the source's telemetry: the gauges of its slot. It neither
// drops the slot nor closes the store, and a running Subscribe ends with
// its context as always. Close the source when the application stops
// using it (before closing the store, whose pool the gauges read).
func (s *Source) Close() error {
	s.stopObserving(true)
	return nil
}

// observe registers the gauges of the slot (see WithTelemetry), unless
// they are registered or the source is closed. The source does so when a
// processor first uses it (Subscribe, Head): from then on, until Close or
// DropSlot, the slot is observed whether it streams or not, so that the
// WAL a stopped processor's slot piles up shows.
func (s *Source) observe() {
	s.gaugeMu.Lock()
	defer s.gaugeMu.Unlock()
	if s.unobserve == nil && !s.closed {
		s.unobserve = instrument.ObserveReplicationSlot(s.opts.Telemetry, scope, s.slot, s.slotWAL)
	}
}

func (s *Source) stopObserving(closing bool) {
	s.gaugeMu.Lock()
	defer s.gaugeMu.Unlock()
	if s.unobserve != nil {
		s.unobserve()
		s.unobserve = nil
	}
	s.closed = s.closed || closing
}

// slotWALSQL reads what the slot holds back, in bytes.
const slotWALSQL = `SELECT GREATEST(pg_current_wal_lsn() - restart_lsn, 0)::bigint, GREATEST(pg_current_wal_lsn() - confirmed_flush_lsn, 0)::bigint
FROM pg_replication_slots WHERE slot_name = $1`

// slotWAL reads what the slot holds back, for its gauges.
func (s *Source) slotWAL(ctx context.Context) (instrument.SlotWAL, bool, error) {
	var retained, lag *int64
	err := s.pool.QueryRow(ctx, slotWALSQL, s.slot).Scan(&retained, &lag)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return instrument.SlotWAL{}, false, nil
	case err != nil:
		return instrument.SlotWAL{}, false, fmt.Errorf("replication: reading slot %q: %w", s.slot, err)
	}
	wal := instrument.SlotWAL{Retained: -1, Lag: -1}
	if retained != nil {
		wal.Retained = *retained
	}
	if lag != nil {
		wal.Lag = *lag
	}
	return wal, true, nil
}
