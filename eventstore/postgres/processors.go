package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Processors keep their state in emt_processors, one row per processor
// (processor_id, in the partition 'emt:default', version 1), with Emmett for
// Node's columns and meanings:
//
//   - last_processed_checkpoint is the position of the last event
//     processed, as "<transaction id, 20 digits>:<global position, 19
//     digits>" ("00000000000000000731:0000000000000000004"): the form Emmett
//     for Node writes from 0.43 on (0.42 writes the global position alone,
//     19 digits), zero-padded so that text order is log order, and a form
//     eventstore.ParsePosition reads. A position with a WAL position (from
//     logical replication) is prefixed with it ("0/16B3748@…"). A checkpoint
//     Node 0.42 wrote (the global position alone) is read as the position of
//     the transaction of that event: what Node 0.42 had not processed of
//     that transaction, or of transactions that committed later with lower
//     global positions, is processed again. A row created by a lock before
//     anything was processed holds "" (no checkpoint; Node reads it as 0).
//   - last_processed_transaction_id is the transaction id (xid8) of that
//     position. (Node 0.42 writes the id of the transaction that stored the
//     checkpoint there; neither reads it back.)
//   - status is 'running' while an instance holds the processor's lock and
//     'stopped' otherwise; processor_instance_id names the holder
//     ("emt-go:<processor id>:<UUIDv7>"; Node's are "<processor
//     id>:<UUIDv7>") or is 'emt:unknown'; last_updated is refreshed by the
//     holder every minute, and by every checkpoint.
//
// The lock itself is a session-level advisory lock, held on a connection of
// the pool that the lock keeps for as long as it is held, with Node's key:
// the first 8 bytes of the SHA-256 of "emt:default:<processor id>:1", read
// as a little-endian int64. Node takes the same lock (for a transaction) to
// claim the row, so a Node processor of the same id (a reactor, or a
// projector whose projection has the processor's name) cannot start while a
// Go instance runs it; and a Go instance does not take the row over from a
// running Node instance before Node's lock timeout (300 seconds without a
// checkpoint).
//
// With WithLeaseLocks (or WithPooler), the lock is a lease instead, held in
// the row alone (lease.go): the holder's processor_instance_id
// ("emt-go-lease:<lease in ms>:<processor id>:<UUIDv7>", a fresh UUIDv7
// for each acquisition) is the fencing token, and last_updated plus the
// lease the expiry. The statement that takes the row also takes Node's
// advisory lock for its transaction, as Node's own does, so that it never
// takes the row from a live advisory-lock holder (Go's or Node's); Node
// and advisory-lock instances, in turn, take a lease row once it has
// expired.

const (
	processorPartition = eventstore.DefaultPartition
	unknownInstance    = "emt:unknown"
	// goInstancePrefix starts the instance ids of Emmett for Go: a Go
	// instance holds the advisory lock as long as it runs, so one whose
	// row says 'running' while the lock is free is gone.
	goInstancePrefix = "emt-go:"
	// nodeLockTimeout is Emmett for Node's default p_lock_timeout_seconds:
	// a row whose last_updated is older is free to take.
	nodeLockTimeout = "300"

	// lockCheckEvery is how often a held lock checks its connection;
	// lockRefreshEvery, how often it refreshes its row's last_updated.
	lockCheckEvery   = time.Second
	lockRefreshEvery = time.Minute
	lockCheckTimeout = 5 * time.Second
	// lockPollMax is the longest pause between two tries of a waiting
	// Lock.
	lockPollMax = 500 * time.Millisecond

	// tryLockSQL takes the advisory lock if it is free, on a session set
	// to probe its client with TCP keepalives (after 10 s idle, every 5 s,
	// 3 times) and to give up on unacknowledged data after 30 s: when the
	// host of the instance holding the lock vanishes (powered off, cut
	// off) rather than closing its connection, the server ends its
	// session, and so frees the lock, within about 30 s instead of the
	// operating system's default of over two hours. (Over a Unix socket
	// the settings do nothing, and are not needed.)
	tryLockSQL = `SELECT pg_try_advisory_lock($1) FROM (SELECT
    set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),
    set_config('tcp_keepalives_count', '3', false), set_config('tcp_user_timeout', '30000', false)) AS keepalive`

	// takeable is the condition on a processor's row (aliased r) under
	// which an instance holding the advisory lock may take it: as Node's
	// emt_try_acquire_processor_lock, or a Go instance's (gone, since the
	// lock was free).
	takeable = `(r.processor_instance_id IS NULL OR r.processor_instance_id = '` + unknownInstance + `'
    OR r.status = 'stopped' OR r.processor_instance_id LIKE '` + goInstancePrefix + `%'
    OR r.last_updated < now() - make_interval(secs => ` + nodeLockTimeout + `) OR ` + leaseExpired + `)`

	acquireRowSQL = `INSERT INTO emt_processors AS r (processor_id, partition, version, processor_instance_id, status,
    last_processed_checkpoint, last_processed_transaction_id, created_at, last_updated)
VALUES ($1, '` + processorPartition + `', 1, $2, 'running', '', '0'::xid8, now(), now())
ON CONFLICT (processor_id, partition, version) DO UPDATE
SET processor_instance_id = excluded.processor_instance_id, status = 'running', last_updated = now()
WHERE r.processor_instance_id = excluded.processor_instance_id OR ` + takeable
	refreshRowSQL = `UPDATE emt_processors SET last_updated = now()
WHERE processor_id = $1 AND partition = '` + processorPartition + `' AND version = 1 AND processor_instance_id = $2 AND status = 'running'`
	// releaseSQL frees the row and then the advisory lock, in one round
	// trip (a waiter that gets the lock at once queues on the row until
	// the statement commits).
	releaseSQL = `WITH r AS (
    UPDATE emt_processors SET status = 'stopped', processor_instance_id = '` + unknownInstance + `', last_updated = now()
    WHERE processor_id = $1 AND partition = '` + processorPartition + `' AND version = 1 AND processor_instance_id = $2
    RETURNING 1)
SELECT pg_advisory_unlock($3), (SELECT count(*) FROM r)`
	readCheckpointSQL = `SELECT last_processed_checkpoint FROM emt_processors
WHERE processor_id = $1 AND partition = '` + processorPartition + `' AND version = 1`
	// commitHeldSQL moves the checkpoint of a processor whose lock this
	// store holds, from one of the texts of the expected checkpoint ($5),
	// fenced on the holder's instance id.
	commitHeldSQL = `UPDATE emt_processors SET last_processed_checkpoint = $1, last_processed_transaction_id = $2::xid8, last_updated = now()
WHERE processor_id = $3 AND partition = '` + processorPartition + `' AND version = 1
  AND processor_instance_id = $4 AND status = 'running' AND last_processed_checkpoint = ANY($5::text[])`
	// commitFreeSQL moves the checkpoint of a processor whose lock nobody
	// holds (the transaction holds the advisory lock for itself).
	commitFreeSQL = `UPDATE emt_processors AS r SET last_processed_checkpoint = $1, last_processed_transaction_id = $2::xid8
WHERE processor_id = $3 AND partition = '` + processorPartition + `' AND version = 1
  AND last_processed_checkpoint = ANY($4::text[]) AND ` + takeable
	insertCheckpointSQL = `INSERT INTO emt_processors (processor_id, partition, version, status, last_processed_checkpoint,
    last_processed_transaction_id, processor_instance_id)
VALUES ($1, '` + processorPartition + `', 1, 'stopped', $2, $3::xid8, '` + unknownInstance + `')
ON CONFLICT (processor_id, partition, version) DO NOTHING`
	processorRowSQL = `SELECT last_processed_checkpoint, coalesce(processor_instance_id, ''), status,
    ` + takeable + `
FROM emt_processors AS r WHERE processor_id = $1 AND partition = '` + processorPartition + `' AND version = 1`
	// resolveGlobalSQL finds the transaction of a global position, for a
	// checkpoint Node 0.42 wrote.
	resolveGlobalSQL = `SELECT transaction_id FROM emt_messages WHERE global_position <= $1
ORDER BY global_position DESC LIMIT 1`
)

// hashText is Emmett for Node's hashText: the first 8 bytes of the SHA-256
// of the text, as a little-endian int64.
func hashText(text string) int64 {
	sum := sha256.Sum256([]byte(text))
	return int64(binary.LittleEndian.Uint64(sum[:8]))
}

// ProcessorLockKey returns the key of the advisory lock that an instance
// running the processor holds (see Lock), as Emmett for Node computes it for
// a reactor of that id, or a projector of a projection of that name: to
// find the session that holds it in pg_locks (classid is its upper 32 bits,
// objid its lower 32).
func ProcessorLockKey(processorID string) int64 {
	return hashText(processorPartition + ":" + processorID + ":1")
}

// lockSet is the processor locks a store holds.
type lockSet struct {
	mu     sync.Mutex
	held   map[string]*processorLock // by processor id
	closed bool
	// released is notified when a lock of this store is released, so that
	// an instance waiting in this process takes it at once.
	released backend.Signal
}

func (ls *lockSet) holder(processorID string) *processorLock {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.held[processorID]
}

// add records a lock taken; it reports false once the store is closed.
func (ls *lockSet) add(l *processorLock) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return false
	}
	if ls.held == nil {
		ls.held = map[string]*processorLock{}
	}
	ls.held[l.processor] = l
	return true
}

func (ls *lockSet) remove(l *processorLock) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.held[l.processor] == l {
		delete(ls.held, l.processor)
	}
}

// processorLock is a held processor lock: a session-level advisory lock on
// a connection of its own, watched by a goroutine; or, with a lease, the
// processor's row alone, renewed by a goroutine (lease.go).
type processorLock struct {
	s         *Store
	processor string
	instance  string
	key       int64
	lease     time.Duration // 0 for an advisory lock
	freed     atomic.Bool   // a lease's row was freed
	committed atomic.Int64  // when the last commit that refreshed a lease's row began (Unix ns)

	mu   sync.Mutex
	conn *pgxpool.Conn // the session holding the lock; nil once given up

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed to end the watch
	stopOnce sync.Once
	done     chan struct{} // closed when the watch has ended
}

var _ projection.Lock = (*processorLock)(nil)

// Lost implements projection.Lock: it is closed when the lock's connection
// died (the server ended the session, the network failed: PostgreSQL
// released the advisory lock with the session) or did not answer for
// three checks in a row, or when the processor's row names another
// instance. The lock checks its connection every second. A lease
// (WithLeaseLocks) is lost when a renewal finds another holder, or when no
// renewal has succeeded for two thirds of the lease. A Commit of a
// processor whose lock was lost fails with an error matching
// projection.ErrLockLost and changes nothing.
func (l *processorLock) Lost() <-chan struct{} { return l.lost }

func (l *processorLock) isLost() bool {
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

func (l *processorLock) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

func (l *processorLock) stopWatch() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// takeConn takes the lock's connection away from it.
func (l *processorLock) takeConn() *pgxpool.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.conn
	l.conn = nil
	return c
}

// destroy closes a pool connection rather than give it back: a session
// that may still hold an advisory lock must not serve anyone else.
func destroy(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Hijack().Close(ctx)
}

// Release implements projection.Lock: it frees the processor's row (status
// 'stopped', instance 'emt:unknown') and the advisory lock, and gives the
// connection back to the pool. Releasing twice, or a lost lock, is not an
// error.
func (l *processorLock) Release(ctx context.Context) error {
	l.stopWatch()
	l.s.locks.remove(l)
	defer l.s.locks.released.Notify()
	if l.lease > 0 {
		return l.releaseLease(ctx)
	}
	conn := l.takeConn()
	if conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockCheckTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, releaseSQL, l.processor, l.instance, l.key); err != nil {
		destroy(conn) // ending the session releases the lock
		return fmt.Errorf("postgres: releasing the lock of processor %q (its session was closed instead): %w", l.processor, err)
	}
	conn.Release()
	return nil
}

// abandon gives a lost lock up: the session is closed, so that whatever it
// still holds is released.
func (l *processorLock) abandon() {
	l.markLost()
	if conn := l.takeConn(); conn != nil {
		destroy(conn)
	}
	l.s.locks.released.Notify()
}

// watch checks the lock's connection every lockCheckEvery, and refreshes
// the row every lockRefreshEvery, until stopped or lost.
func (l *processorLock) watch() {
	defer close(l.done)
	t := time.NewTicker(lockCheckEvery)
	defer t.Stop()
	failures := 0
	refreshed := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		refresh := time.Since(refreshed) >= lockRefreshEvery
		owned, closed, err := l.check(refresh)
		switch {
		case err == nil && !owned, closed:
			l.abandon()
			return
		case err != nil:
			if failures++; failures >= 3 {
				l.abandon()
				return
			}
		default:
			failures = 0
			if refresh {
				refreshed = time.Now()
			}
		}
	}
}

// check pings the lock's connection, or refreshes the row (owned is false
// when it names another instance); closed reports a dead connection (or
// none).
func (l *processorLock) check(refresh bool) (owned, closed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil { // given up (a fenced Commit): nothing left to watch
		return true, true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockCheckTimeout)
	defer cancel()
	owned = true
	if refresh {
		var tag pgconn.CommandTag
		tag, err = l.conn.Exec(ctx, refreshRowSQL, l.processor, l.instance)
		if err == nil {
			owned = tag.RowsAffected() == 1
		}
	} else {
		err = l.conn.Ping(ctx)
	}
	return owned, l.conn.Conn().IsClosed(), err
}

// lock is the Lock of Processors. It blocks until this store
// holds the processor's lock, or ctx ends: only one instance of a
// processor runs at a time against a database, across processes, Emmett for
// Node's processors of the same id included (see the package's note on
// emt_processors).
//
// The lock is a session-level advisory lock on a connection taken from the
// pool and kept until Release (count one per running processor when sizing
// the pool). An instance waiting for it tries again and again, with pauses
// growing up to half a second, on a connection it holds only while it
// tries; within the process, a release wakes it at once. When the holder's
// session ends (a crash, a killed connection), PostgreSQL releases the lock
// and a waiting instance takes over within half a second; the holder's
// Lost channel is closed within about a second.
//
// With WithLeaseLocks (or WithPooler), the lock is a lease on the
// processor's row instead, which holds no connection (see
// WithLeaseLocks): a waiting instance takes over at most half a second
// after the holder's lease expired, or at once after it was released in
// this process.
func (s *Store) lock(ctx context.Context, processorID string) (projection.Lock, error) {
	if processorID == "" {
		return nil, errors.New("postgres: empty processor id")
	}
	u, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("postgres: processor instance id: %w", err)
	}
	instance := goInstancePrefix + processorID + ":" + u.String()
	tryLock := s.tryLock
	if s.cfg.lease > 0 {
		instance = leaseInstance(s.cfg.lease, processorID, u)
		tryLock = s.tryLease
	}
	key := ProcessorLockKey(processorID)
	pause := 10 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.closed.Load() {
			return nil, eventstore.ErrClosed
		}
		wake := s.locks.released.C()
		l, err := tryLock(ctx, processorID, instance, key)
		switch {
		case l != nil:
			return l, nil
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && !unavailable(err):
			// Not the server being out of reach (a refused login, a
			// failed statement): waiting will not mend it.
			return nil, s.dbError(ctx, "taking the lock of processor "+processorID, err)
		}
		// Held by another instance, or the server is out of reach for
		// now (a lost connection, a restart): try again.
		if err := sqlproc.Pause(ctx, wake, pause); err != nil {
			return nil, err
		}
		pause = min(2*pause, lockPollMax)
	}
}

// tryLock takes the processor's lock if it is free: the advisory lock,
// then the row. It returns nil, nil when another instance holds either.
func (s *Store) tryLock(ctx context.Context, processorID, instance string, key int64) (*processorLock, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRow(ctx, tryLockSQL, key).Scan(&got); err != nil {
		destroy(conn) // the lock may have been granted
		return nil, err
	}
	if !got {
		conn.Release()
		return nil, nil
	}
	tag, err := conn.Exec(ctx, acquireRowSQL, processorID, instance)
	if err != nil || tag.RowsAffected() != 1 {
		// A Node instance runs the processor (or the statement failed):
		// unlock, or close the session, which releases it for sure.
		if err == nil {
			if _, uerr := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); uerr == nil {
				conn.Release()
				return nil, nil
			}
		}
		destroy(conn)
		return nil, err
	}
	l := &processorLock{s: s, processor: processorID, instance: instance, key: key, conn: conn,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if !s.locks.add(l) {
		close(l.done)
		destroy(conn)
		return nil, eventstore.ErrClosed
	}
	go l.watch()
	return l, nil
}

// releaseAll releases the locks the store holds, when it closes, so that
// closing the pool does not wait for their connections.
func (s *Store) releaseAll() {
	s.locks.mu.Lock()
	s.locks.closed = true
	held := s.locks.held
	s.locks.held = nil
	s.locks.mu.Unlock()
	for _, l := range held {
		l.stopWatch()
		if l.lease > 0 {
			_ = l.releaseLease(context.Background())
			continue
		}
		conn := l.takeConn()
		if conn == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := conn.Exec(ctx, releaseSQL, l.processor, l.instance, l.key); err != nil {
			destroy(conn)
		} else {
			conn.Release()
		}
		cancel()
	}
	s.locks.released.Notify()
}

// readCheckpoint is the ReadCheckpoint of Processors: the processor's
// last_processed_checkpoint. A checkpoint Emmett for Node 0.42 wrote (a
// global position alone) is resolved to the position of that event's
// transaction (see the package's note on emt_processors).
func (s *Store) readCheckpoint(ctx context.Context, processorID string) (eventstore.Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, false, err
	}
	if s.closed.Load() {
		return eventstore.Position{}, false, eventstore.ErrClosed
	}
	var text string
	err := s.pool.QueryRow(ctx, readCheckpointSQL, processorID).Scan(&text)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.Position{}, false, nil
	case err != nil:
		return eventstore.Position{}, false, s.dbError(ctx, "reading the checkpoint of processor "+processorID, err)
	}
	p, found, err := sqlproc.ParseCheckpoint("postgres", processorID, text)
	if err != nil || !found {
		return p, found, err
	}
	if p.TransactionID == 0 && p.LSN == 0 && p.GlobalPosition > 0 {
		err := s.pool.QueryRow(ctx, resolveGlobalSQL, p.GlobalPosition).Scan(&p.TransactionID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return eventstore.Position{}, false, s.dbError(ctx, "resolving the checkpoint of processor "+processorID, err)
		}
	}
	return p, true, nil
}

// commit is the Commit of Processors: fn (the projection's
// writes, through the Tx's documents or its pgx.Tx) and the move of the
// checkpoint from from to to run in one transaction. The checkpoint moves
// first, with the stored checkpoint compared in the UPDATE's WHERE clause:
// if it is not from, fn does not run, nothing is committed, and the error
// matches projection.ErrCheckpointMoved.
//
// While this store holds the processor's lock, the UPDATE is also fenced on
// the lock's instance id: if the processor's row names another instance
// (another took over after this one's session ended), nothing is
// committed, the error matches projection.ErrLockLost, and the lock's Lost
// channel is closed. Without the lock, Commit takes the advisory lock for
// its transaction, and fails the same way while another instance holds
// it.
func (s *Store) commit(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, projection.Tx) error) error {
	if processorID == "" {
		return errors.New("postgres: empty processor id")
	}
	l := s.locks.holder(processorID)
	if l != nil && l.isLost() {
		return fmt.Errorf("postgres: processor %q: %w", processorID, projection.ErrLockLost)
	}
	began := time.Now()
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.moveCheckpoint(ctx, tx, processorID, l, from, to); err != nil {
			return err
		}
		if fn == nil {
			return nil
		}
		return fn(ctx, s.newTx(ctx, tx, false))
	})
	if l != nil && errors.Is(err, projection.ErrLockLost) {
		l.abandon()
	}
	if l != nil && err == nil {
		l.committed.Store(began.UnixNano()) // the commit refreshed the row's last_updated
	}
	return err
}

func (s *Store) moveCheckpoint(ctx context.Context, tx pgx.Tx, processorID string, l *processorLock, from, to eventstore.Position) error {
	forms := sqlproc.CheckpointForms(from)
	target := sqlproc.CheckpointText(to)
	if l != nil {
		tag, err := tx.Exec(ctx, commitHeldSQL, target, to.TransactionID, processorID, l.instance, forms)
		if err != nil {
			return s.dbError(ctx, "storing the checkpoint of processor "+processorID, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	} else {
		var free bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", ProcessorLockKey(processorID)).Scan(&free); err != nil {
			return s.dbError(ctx, "storing the checkpoint of processor "+processorID, err)
		}
		if !free {
			return fmt.Errorf("postgres: processor %q is locked by another instance: %w", processorID, projection.ErrLockLost)
		}
		tag, err := tx.Exec(ctx, commitFreeSQL, target, to.TransactionID, processorID, forms)
		if err != nil {
			return s.dbError(ctx, "storing the checkpoint of processor "+processorID, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		if from.IsZero() {
			tag, err := tx.Exec(ctx, insertCheckpointSQL, processorID, target, to.TransactionID)
			if err != nil {
				return s.dbError(ctx, "storing the checkpoint of processor "+processorID, err)
			}
			if tag.RowsAffected() == 1 {
				return nil
			}
		}
	}
	// Nothing changed: tell why.
	row := sqlproc.Row{Found: true}
	err := tx.QueryRow(ctx, processorRowSQL, processorID).Scan(&row.Checkpoint, &row.Instance, &row.Status, &row.Free)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		row.Found = false
	case err != nil:
		return s.dbError(ctx, "reading processor "+processorID, err)
	}
	var instance string
	if l != nil {
		instance = l.instance
	}
	return sqlproc.CommitRefused("postgres", processorID, from, l != nil, instance, row)
}

// Processors returns the store's processor checkpoints, locks and parked
// events, where projection.NewProjectionProcessor and NewReactorProcessor
// keep their progress: in emt_processors, in the same transaction as a
// projection's changes, and emt_parked_messages (see
// projection.ParkOnFailure), in the same transaction as the checkpoint.
func (s *Store) Processors() projection.CheckpointStore {
	return backend.CheckpointFuncs{LockFunc: s.lock, ReadFunc: s.readCheckpoint, CommitFunc: s.commit, ParkedEvents: s.parkedEvents(),
		VersionStore: s.projectionVersions()}
}
