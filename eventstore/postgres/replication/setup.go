package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The source keeps one row per slot it created with an exported snapshot, in
// a table of its own: the snapshot (as pg_current_snapshot() gave it inside
// the exported one) and the slot's consistent point. The events visible in
// that snapshot are exactly those committed before the consistent point, so
// the history can be read (and read again after a crash) from any
// connection with pg_visible_in_snapshot, long after the exported snapshot
// itself died with its connection.
const (
	setupSQL = `CREATE TABLE IF NOT EXISTS emt_replication_slots (
	slot_name        text        PRIMARY KEY,
	publication      text        NOT NULL,
	snapshot         text        NOT NULL,
	consistent_point text        NOT NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	exclude_snapshot text,
	exclude_xids     xid8[]
)`
	// A record made before the columns of the exclusion existed.
	excludeColumnsSQL = `SELECT count(*) FROM pg_attribute WHERE attrelid = 'emt_replication_slots'::regclass AND attname = 'exclude_snapshot' AND NOT attisdropped`
	addExcludeSQL     = `ALTER TABLE emt_replication_slots ADD COLUMN IF NOT EXISTS exclude_snapshot text, ADD COLUMN IF NOT EXISTS exclude_xids xid8[]`
	publicationSQL    = `SELECT p.pubinsert, p.pubviaroot,
	p.puballtables OR EXISTS (SELECT 1 FROM pg_publication_rel AS r WHERE r.prpubid = p.oid AND r.prrelid = 'emt_messages'::regclass)
FROM pg_publication AS p WHERE p.pubname = $1`
	slotSQL = `SELECT database, plugin, slot_type, active, active_pid, restart_lsn::text, confirmed_flush_lsn::text,
	wal_status, safe_wal_size, pg_current_wal_insert_lsn()::text
FROM pg_replication_slots WHERE slot_name = $1`
	recordSQL     = `SELECT snapshot, consistent_point, exclude_snapshot, exclude_xids::text FROM emt_replication_slots WHERE slot_name = $1`
	saveRecordSQL = `INSERT INTO emt_replication_slots (slot_name, publication, snapshot, consistent_point, exclude_snapshot, exclude_xids)
VALUES ($1, $2, $3, $4, $5, $6::text::xid8[])
ON CONFLICT (slot_name) DO UPDATE SET publication = excluded.publication, snapshot = excluded.snapshot,
	consistent_point = excluded.consistent_point, created_at = now(),
	exclude_snapshot = excluded.exclude_snapshot, exclude_xids = excluded.exclude_xids`
	deleteRecordSQL  = `DELETE FROM emt_replication_slots WHERE slot_name = $1`
	terminateSQL     = `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL AND active_pid <> pg_backend_pid()`
	activeSQL        = `SELECT active FROM pg_replication_slots WHERE slot_name = $1`
	createSlotSQL    = `SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`
	dropSlotSQL      = `SELECT pg_drop_replication_slot($1)`
	insertLSNSQL     = `SELECT pg_current_wal_insert_lsn()::text`
	headSQL          = `SELECT pg_current_wal_insert_lsn()::text, pg_current_snapshot()::text`
	wakeSQL          = `SELECT pg_logical_emit_message(false, $1, $2::text)::text`
	walSizesSQL      = `SELECT current_setting('wal_block_size')::bigint, pg_size_bytes(current_setting('wal_segment_size'))`
	serverVersionSQL = `SELECT current_setting('server_version_num')::int`
)

// wakePrefix is the prefix of the logical decoding messages that WaitFor in
// an instance that does not run the processor sends to the one that does.
const wakePrefix = "emmett.wake"

// SQLSTATEs the source acts on.
const (
	codeDuplicateObject   = "42710"
	codeUndefinedObject   = "42704"
	codeObjectInUse       = "55006"
	codeNotInPrereqState  = "55000"
	codeUniqueViolation   = "23505"
	codeAdminShutdown     = "57P01"
	codeCannotConnectNow  = "57P03"
	codeInsufficientPrivs = "42501"
	codeLimitExceeded     = "53400" // configuration_limit_exceeded: all replication slots are in use
)

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// setup creates the source's table and the publication if missing, once.
func (s *Source) setup(ctx context.Context) error {
	if s.setupDone.Load() {
		return nil
	}
	return s.setupOn(ctx, s.pool)
}

// setupOn creates the source's table and the publication if missing,
// through db. Several instances may run it at once: it runs under an
// advisory lock.
func (s *Source) setupOn(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('emt_replication_setup', 0))"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, setupSQL); err != nil {
			return fmt.Errorf("creating emt_replication_slots: %w", err)
		}
		var columns int
		if err := tx.QueryRow(ctx, excludeColumnsSQL).Scan(&columns); err != nil {
			return fmt.Errorf("reading emt_replication_slots: %w", err)
		}
		if columns == 0 {
			if _, err := tx.Exec(ctx, addExcludeSQL); err != nil {
				return fmt.Errorf("adding columns to emt_replication_slots: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, cutsTableSQL); err != nil {
			return fmt.Errorf("creating emt_replication_cuts: %w", err)
		}
		var insert, viaRoot, hasTable bool
		err := tx.QueryRow(ctx, publicationSQL, s.opts.Publication).Scan(&insert, &viaRoot, &hasTable)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			_, err = tx.Exec(ctx, "CREATE PUBLICATION "+pgx.Identifier{s.opts.Publication}.Sanitize()+
				" FOR TABLE emt_messages WITH (publish = 'insert', publish_via_partition_root = true)")
			if err != nil {
				return fmt.Errorf("creating publication %q: %w", s.opts.Publication, err)
			}
			s.log.Info("replication: created publication", "publication", s.opts.Publication)
			return nil
		case err != nil:
			return err
		case !insert || !viaRoot || !hasTable:
			return fmt.Errorf("publication %q exists but does not publish the inserts of emt_messages through the root table "+
				"(it needs FOR TABLE emt_messages WITH (publish = 'insert', publish_via_partition_root = true)); "+
				"drop it or name another one with WithPublication", s.opts.Publication)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replication: setting up: %w", err)
	}
	s.setupDone.Store(true)
	return nil
}

// slotState is what the server and the source's table know of the slot.
type slotState struct {
	exists         bool
	database       string
	plugin         string
	slotType       string
	active         bool
	activePID      *int32
	restartLSN     pglogrepl.LSN
	confirmedFlush pglogrepl.LSN
	walStatus      string
	safeWALSize    *int64
	currentLSN     pglogrepl.LSN

	// The source's record, when it created the slot with a snapshot.
	hasRecord       bool
	snapshot        string
	consistentPoint pglogrepl.LSN
	// exclude, when set, is the cut of the checkpoint the slot was made to
	// catch up from: its history is the events of the snapshot not in it.
	exclude *cut
}

func parseLSN(s *string) (pglogrepl.LSN, error) {
	if s == nil {
		return 0, nil
	}
	return pglogrepl.ParseLSN(*s)
}

func (s *Source) readSlot(ctx context.Context) (slotState, error) {
	var st slotState
	var database, plugin, slotType, walStatus, restart, confirmed *string
	var current string
	err := s.pool.QueryRow(ctx, slotSQL, s.slot).Scan(&database, &plugin, &slotType, &st.active, &st.activePID,
		&restart, &confirmed, &walStatus, &st.safeWALSize, &current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := s.pool.QueryRow(ctx, insertLSNSQL).Scan(&current); err != nil {
			return st, err
		}
	case err != nil:
		return st, err
	default:
		st.exists = true
		st.database, st.plugin, st.slotType = deref(database), deref(plugin), deref(slotType)
		st.walStatus = deref(walStatus)
		if st.restartLSN, err = parseLSN(restart); err != nil {
			return st, err
		}
		if st.confirmedFlush, err = parseLSN(confirmed); err != nil {
			return st, err
		}
	}
	if st.currentLSN, err = pglogrepl.ParseLSN(current); err != nil {
		return st, err
	}
	var cp string
	var exSnap, exXids *string
	err = s.pool.QueryRow(ctx, recordSQL, s.slot).Scan(&st.snapshot, &cp, &exSnap, &exXids)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return st, err
	default:
		st.hasRecord = true
		// Recorded before snapshots were normalized, maybe.
		st.snapshot = normalizeSnapshot(st.snapshot)
		if st.consistentPoint, err = pglogrepl.ParseLSN(cp); err != nil {
			return st, err
		}
		if exSnap != nil {
			st.exclude = &cut{snapshot: *exSnap}
			if st.exclude.xids, err = parseXidArray(deref(exXids)); err != nil {
				return st, err
			}
		}
	}
	if st.exists && (st.database != s.database || st.plugin != "pgoutput" || st.slotType != "logical") {
		return st, fmt.Errorf("replication: slot %q exists but is not a pgoutput slot of database %q (it is a %s slot of %q with plugin %q): "+
			"slot names are global to the server; name another one with WithSlot", s.slot, s.database, st.slotType, st.database, st.plugin)
	}
	return st, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// lost reports whether the server invalidated the slot.
func (st slotState) lost() bool {
	return st.exists && (st.walStatus == "lost" || (st.restartLSN == 0 && st.confirmedFlush != 0))
}

// ensureSlot creates the slot without a snapshot when it does not exist, so
// that a processor starting from the end (after Head) misses nothing
// appended after its starting point.
func (s *Source) ensureSlot(ctx context.Context) error {
	if s.slotEnsured.Load() {
		return nil
	}
	if err := s.setup(ctx); err != nil {
		return err
	}
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	// Another instance may be creating or replacing the slot at the same
	// time: the lock holder's source ends the session that holds the slot
	// while it is being made (57P01), or the slot is in use (55006) or
	// already made (42710). Each of those is settled by looking again.
	for attempt := 1; ; attempt++ {
		var exists bool
		if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)", s.slot).Scan(&exists); err != nil {
			return fmt.Errorf("replication: reading slot %q: %w", s.slot, err)
		}
		if exists {
			break
		}
		conn, release, err := s.holdPublication(ctx)
		if err != nil {
			return err
		}
		var lsn string
		err = conn.QueryRow(ctx, createSlotSQL, s.slot).Scan(&lsn)
		release()
		if err == nil {
			s.log.Info("replication: created slot", "slot", s.slot, "consistent_point", lsn)
			break
		}
		switch code := pgCode(err); {
		case code == codeDuplicateObject:
			continue
		case (code == codeAdminShutdown || code == codeObjectInUse) && attempt < 10:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
			}
			continue
		}
		return s.createSlotError(err)
	}
	s.slotEnsured.Store(true)
	return nil
}

// createSlotError is the error of creating the slot: one that stops
// Subscribe, matching ErrNoFreeSlot, when the server's slots are all in
// use, as retrying would not get one until someone drops a slot.
func (s *Source) createSlotError(err error) error {
	if pgCode(err) == codeLimitExceeded {
		return &permanentError{fmt.Errorf("%w: creating slot %q: %w; drop the slots no longer used (see pg_replication_slots) or raise max_replication_slots",
			ErrNoFreeSlot, s.slot, err)}
	}
	return fmt.Errorf("replication: creating slot %q: %w", s.slot, err)
}

// terminateSender ends the walsender that holds the slot, if any: the
// source is only asked to stream by the holder of the processor's lock, so
// a walsender still on the slot belongs to an instance that lost the lock
// (it died, or its session did), and waiting for wal_sender_timeout would
// only delay the takeover. It then waits for the slot to be free.
func (s *Source) terminateSender(ctx context.Context) error {
	tag, err := s.pool.Exec(ctx, terminateSQL, s.slot)
	if err != nil {
		return fmt.Errorf("replication: ending the stale walsender of slot %q: %w", s.slot, err)
	}
	if tag.RowsAffected() > 0 {
		s.log.Info("replication: ended the walsender of a previous holder of the slot", "slot", s.slot)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		var active bool
		err := s.pool.QueryRow(ctx, activeSQL, s.slot).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !active) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replication: slot %q is still active after its walsender was ended", s.slot)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// dropSlot drops the slot (ending its walsender first) and forgets its
// record. A missing slot is not an error.
func (s *Source) dropSlot(ctx context.Context) error {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	return s.dropSlotLocked(ctx)
}

func (s *Source) dropSlotLocked(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		if err := s.terminateSender(ctx); err != nil {
			return err
		}
		_, err := s.pool.Exec(ctx, dropSlotSQL, s.slot)
		if err == nil || pgCode(err) == codeUndefinedObject {
			break
		}
		if pgCode(err) != codeObjectInUse || attempt >= 20 {
			return fmt.Errorf("replication: dropping slot %q: %w", s.slot, err)
		}
	}
	s.slotEnsured.Store(false)
	if _, err := s.pool.Exec(ctx, deleteRecordSQL, s.slot); err != nil && pgCode(err) != "42P01" {
		return fmt.Errorf("replication: dropping slot %q: %w", s.slot, err)
	}
	return nil
}

// createSlot creates the slot with an exported snapshot and records the
// snapshot and the consistent point, then closes the replication
// connection (the history is read later, through the record).
//
// exclude, when set, is the cut of the checkpoint the slot is made to
// catch up from (see cut.go): the record keeps it, and the history is then
// the events of the snapshot not in it.
func (s *Source) createSlot(ctx context.Context, exclude *cut) (slotState, error) {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	db, release, err := s.holdPublication(ctx)
	if err != nil {
		return slotState{}, err
	}
	defer release()
	conn, err := s.connect(ctx)
	if err != nil {
		return slotState{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var res pglogrepl.CreateReplicationSlotResult
	for attempt := 0; ; attempt++ {
		res, err = pglogrepl.CreateReplicationSlot(ctx, conn, s.slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{SnapshotAction: "EXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication})
		if err == nil {
			break
		}
		if pgCode(err) != codeDuplicateObject || attempt >= 3 {
			return slotState{}, s.createSlotError(err)
		}
		// Head, in this instance or another, made one without a snapshot
		// meanwhile: ours replaces it.
		if err := s.dropSlotLocked(ctx); err != nil {
			return slotState{}, err
		}
	}
	cp, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return slotState{}, err
	}
	// Import the exported snapshot and write down what it sees. The
	// exported snapshot lives as long as the replication connection runs
	// nothing else.
	var snapshot string
	err = pgx.BeginTxFunc(ctx, db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(res.SnapshotName)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&snapshot)
	})
	snapshot = normalizeSnapshot(snapshot)
	if err != nil {
		return slotState{}, fmt.Errorf("replication: importing the snapshot of slot %q: %w", s.slot, err)
	}
	var exSnap, exXids *string
	if exclude != nil {
		x := xidArray(exclude.xids)
		exSnap, exXids = &exclude.snapshot, &x
	}
	if _, err := db.Exec(ctx, saveRecordSQL, s.slot, s.opts.Publication, snapshot, cp.String(), exSnap, exXids); err != nil {
		return slotState{}, fmt.Errorf("replication: recording the snapshot of slot %q: %w", s.slot, err)
	}
	s.slotEnsured.Store(true)
	s.log.Info("replication: created slot with a snapshot", "slot", s.slot, "consistent_point", cp.String(), "snapshot", snapshot)
	return slotState{exists: true, confirmedFlush: cp, restartLSN: cp, hasRecord: true, snapshot: snapshot, consistentPoint: cp, exclude: exclude}, nil
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
