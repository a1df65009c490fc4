package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/google/uuid"
)

// Processors keep their state in emt_processors, one row per processor
// (processor_id, in the default partition, version 1), with Emmett for
// Node's columns and meanings:
//
//   - last_processed_checkpoint is the global position of the last event
//     processed, zero-padded to 19 digits as Node writes it
//     ("0000000000000000042"), so that text order is log order and a
//     database shared with Node reads the same; eventstore.ParsePosition
//     reads it (and the unpadded form). A row created by a lock before
//     anything was processed holds "" (no checkpoint; Node reads it as 0).
//   - status is 'running' while an instance holds the processor's lock and
//     'stopped' otherwise; processor_instance_id names the holder
//     ("<processor id>:<UUIDv7>", as Node's instance ids) or is
//     'emt:unknown'.
//   - last_updated is the lock's heartbeat: the holder renews it every
//     fifth of the lease TTL, and another instance takes the lock over once
//     it is older than the TTL (or the row is stopped, or its instance is
//     'emt:unknown'), as Node's emt_try_acquire_processor_lock does.
//
// Times are SQLite's 'now' (UTC, milliseconds), so that every process on
// the database file compares them on the same clock.

// DefaultLeaseTTL is how long a processor's lock outlives the last
// heartbeat of its holder: a process that died without releasing it (a
// crash, SIGKILL) holds it that long at most.
const DefaultLeaseTTL = 5 * time.Second

// WithLeaseTTL sets how long a processor's lock outlives its holder's last
// heartbeat (DefaultLeaseTTL by default); the holder renews it every fifth
// of that. An instance waiting for the lock takes it over when the lease is
// older than its own TTL, so every store on a database should use the same
// value.
func WithLeaseTTL(d time.Duration) Option { return func(c *config) { c.leaseTTL = d } }

const (
	processorPartition = eventstore.DefaultPartition
	unknownInstance    = "emt:unknown"
	nowSQL             = `strftime('%Y-%m-%d %H:%M:%f', 'now')`

	// acquireSQL takes a processor's lock: it creates the row, or takes it
	// over when it is free, already ours, or its lease expired (?4 is the
	// TTL in days). One row changed means the lock is ours.
	acquireSQL = `INSERT INTO emt_processors (processor_id, version, partition, status, last_processed_checkpoint, processor_instance_id, created_at, last_updated)
VALUES (?1, 1, ?2, 'running', '', ?3, ` + nowSQL + `, ` + nowSQL + `)
ON CONFLICT (processor_id, partition, version) DO UPDATE SET
	processor_instance_id = excluded.processor_instance_id, status = 'running', last_updated = excluded.last_updated
WHERE emt_processors.processor_instance_id = excluded.processor_instance_id
	OR emt_processors.processor_instance_id = '` + unknownInstance + `'
	OR emt_processors.status = 'stopped'
	OR julianday(emt_processors.last_updated) < julianday('now') - ?4`
	renewSQL = `UPDATE emt_processors SET last_updated = ` + nowSQL + `
WHERE processor_id = ? AND partition = ? AND version = 1 AND processor_instance_id = ? AND status = 'running'`
	releaseSQL = `UPDATE emt_processors SET status = 'stopped', processor_instance_id = '` + unknownInstance + `', last_updated = ` + nowSQL + `
WHERE processor_id = ? AND partition = ? AND version = 1 AND processor_instance_id = ?`
	readCheckpointSQL = `SELECT last_processed_checkpoint FROM emt_processors WHERE processor_id = ? AND partition = ? AND version = 1`

	// commitHeldSQL moves the checkpoint of a processor whose lock this
	// store holds: from one of ?5, ?6, ?7 (the forms of the expected
	// checkpoint) to ?1, fenced on the holder's instance id.
	commitHeldSQL = `UPDATE emt_processors SET last_processed_checkpoint = ?1, last_updated = ` + nowSQL + `
WHERE processor_id = ?2 AND partition = ?3 AND version = 1
	AND processor_instance_id = ?4 AND status = 'running'
	AND last_processed_checkpoint IN (?5, ?6, ?7)`
	// commitFreeSQL moves the checkpoint of a processor whose lock nobody
	// holds (a live lease of another instance fences it out).
	commitFreeSQL = `UPDATE emt_processors SET last_processed_checkpoint = ?1
WHERE processor_id = ?2 AND partition = ?3 AND version = 1
	AND (processor_instance_id = '` + unknownInstance + `' OR status = 'stopped' OR julianday(last_updated) < julianday('now') - ?4)
	AND last_processed_checkpoint IN (?5, ?6, ?7)`
	insertCheckpointSQL = `INSERT INTO emt_processors (processor_id, version, partition, status, last_processed_checkpoint, processor_instance_id)
VALUES (?, 1, ?, 'stopped', ?, '` + unknownInstance + `')
ON CONFLICT (processor_id, partition, version) DO NOTHING`
	processorRowSQL = `SELECT last_processed_checkpoint, processor_instance_id, status,
	julianday(last_updated) >= julianday('now') - ?
FROM emt_processors WHERE processor_id = ? AND partition = ? AND version = 1`
)

// checkpointForms are the stored texts that mean p, three of them for
// commitHeldSQL and commitFreeSQL (see sqlproc.CheckpointForms).
func checkpointForms(p eventstore.Position) [3]string {
	forms := sqlproc.CheckpointForms(p)
	return [3]string{forms[0], forms[1], forms[len(forms)-1]}
}

func (s *Store) ttlDays() float64 { return s.cfg.leaseTTL.Seconds() / 86400 }

// leaseSet is the processor locks a store holds.
type leaseSet struct {
	mu   sync.Mutex
	held map[string]*processorLock // by processor id
	// released is notified when a lock of this store is released, so that
	// an instance waiting in this process takes it at once.
	released backend.Signal
	wg       sync.WaitGroup // heartbeats
}

func (ls *leaseSet) holder(processorID string) *processorLock {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.held[processorID]
}

// processorLock is a held processor lock: a lease in emt_processors, kept
// alive by a heartbeat goroutine.
type processorLock struct {
	s         *Store
	processor string
	instance  string

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed to end the heartbeat
	stopOnce sync.Once
	done     chan struct{} // closed when the heartbeat has ended

	mu      sync.Mutex
	renewed time.Time // the last time the lease was known renewed
}

var errStopped = errors.New("sqlite: lock released")

// Lost implements projection.Lock: it is closed when the lease could not
// be renewed in time or another instance took it over (after this one
// stopped renewing it for longer than the TTL). A Commit of a processor
// whose lease was lost fails with an error matching projection.ErrLockLost
// and changes nothing.
func (l *processorLock) Lost() <-chan struct{} { return l.lost }

func (l *processorLock) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

func (l *processorLock) touch() {
	l.mu.Lock()
	l.renewed = time.Now()
	l.mu.Unlock()
}

func (l *processorLock) sinceRenewed() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.renewed)
}

func (l *processorLock) stopHeartbeat() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Release implements projection.Lock: it stops the heartbeat and frees the
// processor's row (status 'stopped', instance 'emt:unknown'), so another
// instance takes the lock at once. Releasing twice is not an error.
func (l *processorLock) Release(ctx context.Context) error {
	l.stopHeartbeat()
	s := l.s
	s.leases.mu.Lock()
	if s.leases.held[l.processor] == l {
		delete(s.leases.held, l.processor)
	}
	s.leases.mu.Unlock()
	defer s.leases.released.Notify()
	if s.closed.Load() {
		return nil // Close released it
	}
	err := s.writeStmt(ctx, nil, func() error {
		_, err := s.ps.release.ExecContext(ctx, l.processor, processorPartition, l.instance)
		return err
	})
	if errors.Is(err, eventstore.ErrClosed) {
		return nil // Close released it
	}
	return err
}

// heartbeat renews the lease every fifth of the TTL until stopped. It
// gives the lease up as lost when the row names another instance, or when
// renewing has failed for three quarters of the TTL.
func (l *processorLock) heartbeat() {
	defer l.s.leases.wg.Done()
	defer close(l.done)
	ttl := l.s.cfg.leaseTTL
	every := ttl / 5
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		owned, err := l.renew()
		switch {
		case errors.Is(err, errStopped):
			return
		case err == nil && !owned:
			l.markLost()
			return
		case err != nil:
			if l.sinceRenewed() >= ttl*3/4 {
				l.markLost()
				return
			}
			t.Reset(min(every, 50*time.Millisecond))
		default:
			t.Reset(every)
		}
	}
}

// renew moves the lease's last_updated to now; owned is false when the row
// is no longer this instance's.
//
// Waiting for the writer is not failing to renew: while this process
// writes (a processor's batch, an append), it holds SQLite's write lock,
// and no other process can take the lease over either.
func (l *processorLock) renew() (owned bool, err error) {
	s := l.s
	err = s.writeStmt(context.Background(), l.stop, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.leaseTTL/2)
		defer cancel()
		res, err := s.ps.renew.ExecContext(ctx, l.processor, processorPartition, l.instance)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		owned = n == 1
		return err
	})
	if err == nil && owned {
		l.touch()
	}
	return owned, err
}

// writeStmt runs fn holding the writer (waiting for it until ctx ends or
// stop is closed).
func (s *Store) writeStmt(ctx context.Context, stop <-chan struct{}, fn func() error) error {
	select {
	case s.w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopped
	}
	defer s.w.release()
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return fn()
}

// lock is the Lock of Processors. It blocks until this store
// holds the processor's lock, or ctx ends: only one instance of a
// processor runs at a time against a database file, across processes.
//
// The lock is a lease in the processor's emt_processors row, renewed by a
// heartbeat goroutine until released. An instance waiting for it polls the
// row (every tenth of the lease TTL, between 10 ms and 500 ms) and takes it
// when it is released or its lease expired; within the process, a release
// wakes the waiters at once.
func (s *Store) lock(ctx context.Context, processorID string) (projection.Lock, error) {
	if processorID == "" {
		return nil, errors.New("sqlite: empty processor id")
	}
	u, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("sqlite: processor instance id: %w", err)
	}
	instance := processorID + ":" + u.String()
	poll := min(max(s.cfg.leaseTTL/10, 10*time.Millisecond), 500*time.Millisecond)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.closed.Load() {
			return nil, eventstore.ErrClosed
		}
		wake := s.leases.released.C()
		acquired := false
		err := s.writeStmt(ctx, nil, func() error {
			res, err := s.ps.acquire.ExecContext(ctx, processorID, processorPartition, instance, s.ttlDays())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			acquired = n == 1
			return err
		})
		if err != nil && !isBusy(err) {
			return nil, s.dbError(ctx, "taking the lock of processor "+processorID, err)
		}
		if acquired {
			l := &processorLock{s: s, processor: processorID, instance: instance, renewed: time.Now(),
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			s.leases.mu.Lock()
			if s.closed.Load() {
				s.leases.mu.Unlock()
				close(l.done)
				return nil, eventstore.ErrClosed
			}
			if s.leases.held == nil {
				s.leases.held = map[string]*processorLock{}
			}
			s.leases.held[processorID] = l
			s.leases.wg.Add(1)
			s.leases.mu.Unlock()
			go l.heartbeat()
			return l, nil
		}
		if err := sqlproc.Pause(ctx, wake, poll); err != nil {
			return nil, err
		}
	}
}

// releaseAll stops the heartbeats of the locks the store holds and frees
// their rows, when the store closes. The caller holds the writer.
func (s *Store) releaseAll() {
	s.leases.mu.Lock()
	held := s.leases.held
	s.leases.held = nil
	s.leases.mu.Unlock()
	for _, l := range held {
		l.stopOnce.Do(func() { close(l.stop) })
	}
	s.leases.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, l := range held {
		_, _ = s.ps.release.ExecContext(ctx, l.processor, processorPartition, l.instance)
	}
	s.leases.released.Notify()
}

// readCheckpoint is the ReadCheckpoint of Processors: the processor's
// last_processed_checkpoint, from the reader connections.
func (s *Store) readCheckpoint(ctx context.Context, processorID string) (eventstore.Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, false, err
	}
	if err := s.beginRead(); err != nil {
		return eventstore.Position{}, false, err
	}
	var text string
	err := s.ps.readCheckpoint.QueryRowContext(ctx, processorID, processorPartition).Scan(&text)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventstore.Position{}, false, nil
	case err != nil:
		return eventstore.Position{}, false, s.dbError(ctx, "reading the checkpoint of processor "+processorID, err)
	}
	return sqlproc.ParseCheckpoint("sqlite", processorID, text)
}

// commit is the Commit of Processors: fn (the projection's
// writes, through the Tx's documents or its *sql.Tx) and the move of the
// checkpoint from from to to run in one write transaction, with the
// checkpoint compared in the UPDATE's WHERE clause: if the stored
// checkpoint is not from, nothing is committed and the error matches
// projection.ErrCheckpointMoved.
//
// While this store holds the processor's lock, the UPDATE is also fenced
// on its instance id: if the lease was lost to another instance, nothing is
// committed, the error matches projection.ErrLockLost, and the lock's Lost
// channel is closed. Without the lock, Commit fails the same way while
// another instance's lease is live.
//
// fn runs while the store's single writer is held: it must write through
// its Tx, not through the store.
func (s *Store) commit(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, projection.Tx) error) error {
	l := s.leases.holder(processorID)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if fn != nil {
			if err := fn(ctx, s.newTx(tx)); err != nil {
				return err
			}
		}
		return s.moveCheckpoint(ctx, tx, processorID, l, from, to)
	})
	switch {
	case err == nil && l != nil:
		l.touch() // the UPDATE renewed the lease
	case l != nil && errors.Is(err, projection.ErrLockLost):
		l.markLost()
	}
	return err
}

func (s *Store) moveCheckpoint(ctx context.Context, tx *sql.Tx, processorID string, l *processorLock, from, to eventstore.Position) error {
	forms := checkpointForms(from)
	target := sqlproc.CheckpointText(to)
	var res sql.Result
	var err error
	if l != nil {
		res, err = tx.StmtContext(ctx, s.ps.commitHeld).ExecContext(ctx, target, processorID, processorPartition, l.instance, forms[0], forms[1], forms[2])
	} else {
		res, err = tx.ExecContext(ctx, commitFreeSQL, target, processorID, processorPartition, s.ttlDays(), forms[0], forms[1], forms[2])
	}
	if err != nil {
		return s.dbError(ctx, "storing the checkpoint of processor "+processorID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if l == nil && from.IsZero() {
		res, err := tx.ExecContext(ctx, insertCheckpointSQL, processorID, processorPartition, target)
		if err != nil {
			return s.dbError(ctx, "storing the checkpoint of processor "+processorID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	// Nothing changed: tell why.
	row := sqlproc.Row{Found: true}
	var live bool
	err = tx.QueryRowContext(ctx, processorRowSQL, s.ttlDays(), processorID, processorPartition).Scan(&row.Checkpoint, &row.Instance, &row.Status, &live)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		row.Found = false
	case err != nil:
		return s.dbError(ctx, "reading processor "+processorID, err)
	}
	row.Free = row.Instance == unknownInstance || row.Status == "stopped" || !live
	var instance string
	if l != nil {
		instance = l.instance
	}
	return sqlproc.CommitRefused("sqlite", processorID, from, l != nil, instance, row)
}

// procStmts are the processor statements: the lock's on the writer pool,
// the checkpoint's read on the readers.
type procStmts struct {
	acquire, renew, release, commitHeld *sql.Stmt
	readCheckpoint                      *sql.Stmt
	head, headIn, count, countIn        *sql.Stmt
}

func (p *procStmts) prepare(ctx context.Context, writer, readers preparer) error {
	for _, q := range []struct {
		stmt **sql.Stmt
		on   preparer
		sql  string
	}{
		{&p.acquire, writer, acquireSQL},
		{&p.renew, writer, renewSQL},
		{&p.release, writer, releaseSQL},
		{&p.commitHeld, writer, commitHeldSQL},
		{&p.readCheckpoint, readers, readCheckpointSQL},
		{&p.head, readers, headSQL},
		{&p.headIn, readers, headInSQL},
		{&p.count, readers, countSQL},
		{&p.countIn, readers, countInSQL},
	} {
		stmt, err := q.on.PrepareContext(ctx, q.sql)
		if err != nil {
			return fmt.Errorf("sqlite: preparing %q: %w", firstWords(q.sql), err)
		}
		*q.stmt = stmt
	}
	return nil
}

func (p *procStmts) close() {
	for _, st := range []*sql.Stmt{p.acquire, p.renew, p.release, p.commitHeld, p.readCheckpoint, p.head, p.headIn, p.count, p.countIn} {
		if st != nil {
			_ = st.Close()
		}
	}
}

var (
	_ projection.Lock = (*processorLock)(nil)
)

// Processors returns the store's processor checkpoints, locks and parked
// events, where projection.NewProjectionProcessor and NewReactorProcessor
// keep their progress: in emt_processors, in the same transaction as a
// projection's changes, and emt_parked_messages (see
// projection.ParkOnFailure), in the same transaction as the checkpoint.
func (s *Store) Processors() projection.CheckpointStore {
	return backend.CheckpointFuncs{LockFunc: s.lock, ReadFunc: s.readCheckpoint, CommitFunc: s.commit, ParkedEvents: s.parkedEvents(),
		VersionStore: s.projectionVersions()}
}
