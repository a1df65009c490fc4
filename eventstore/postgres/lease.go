package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Processor locks as leases (WithLeaseLocks, WithPooler): the processor's
// row in emt_processors is the lock, with no session behind it. See the
// note on emt_processors in processors.go.

const (
	// leasePrefix starts the instance ids of lease holders:
	// "emt-go-lease:<lease in ms>:<processor id>:<UUIDv7>".
	leasePrefix = "emt-go-lease:"

	// leaseExpired is the condition on a processor's row (aliased r)
	// under which a lease holder's lease has expired: last_updated is
	// older than the lease its instance id records (300 s, Node's lock
	// timeout, for an id that records none).
	leaseExpired = `(r.processor_instance_id LIKE '` + leasePrefix + `%' AND r.last_updated < now() - make_interval(secs =>
    CASE WHEN split_part(r.processor_instance_id, ':', 2) ~ '^[0-9]{1,9}$'
    THEN split_part(r.processor_instance_id, ':', 2)::bigint / 1000.0 ELSE ` + nodeLockTimeout + ` END))`

	// tryLeaseSQL takes the row, in one statement, if it is free or its
	// holder's lease has expired (takeable), while no session holds the
	// processor's advisory lock ($3): the statement takes it for its
	// own transaction, as Node's emt_try_acquire_processor_lock does, so
	// that a live advisory-lock holder (an instance of Go without leases,
	// or Node claiming the row) keeps it. One row back means taken.
	//
	// A row that the statement's snapshot shows held is left alone
	// without being locked: the holder's checkpoint commits lock it for
	// as long as their transactions last, and a contender must not queue
	// behind them (holding a connection) only to find it held.
	tryLeaseSQL = `WITH free AS (SELECT pg_try_advisory_xact_lock($3) AS free)
INSERT INTO emt_processors AS r (processor_id, partition, version, processor_instance_id, status,
    last_processed_checkpoint, last_processed_transaction_id, created_at, last_updated)
SELECT $1, '` + processorPartition + `', 1, $2, 'running', '', '0'::xid8, now(), now() FROM free WHERE free.free
  AND NOT EXISTS (SELECT 1 FROM emt_processors AS r
    WHERE r.processor_id = $1 AND r.partition = '` + processorPartition + `' AND r.version = 1 AND NOT ` + takeable + `)
ON CONFLICT (processor_id, partition, version) DO UPDATE
SET processor_instance_id = excluded.processor_instance_id, status = 'running', last_updated = now()
WHERE r.processor_instance_id = excluded.processor_instance_id OR ` + takeable + `
RETURNING 1`

	// releaseLeaseSQL frees the row, if the lease is still this
	// holder's.
	releaseLeaseSQL = `UPDATE emt_processors SET status = 'stopped', processor_instance_id = '` + unknownInstance + `', last_updated = now()
WHERE processor_id = $1 AND partition = '` + processorPartition + `' AND version = 1 AND processor_instance_id = $2`
)

// leaseInstance is the instance id of a lease holder: it records the
// lease, so that every instance honours the holder's.
func leaseInstance(lease time.Duration, processorID string, u uuid.UUID) string {
	return leasePrefix + strconv.FormatInt(lease.Milliseconds(), 10) + ":" + processorID + ":" + u.String()
}

// tryLease takes the processor's lease if it is free or expired. It
// returns nil, nil when another instance holds it.
func (s *Store) tryLease(ctx context.Context, processorID, instance string, key int64) (*processorLock, error) {
	start := time.Now()
	rows, err := s.pool.Query(ctx, tryLeaseSQL, processorID, instance, key)
	if err != nil {
		return nil, err
	}
	taken := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !taken {
		return nil, nil
	}
	l := &processorLock{s: s, processor: processorID, instance: instance, key: key, lease: s.cfg.lease,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if !s.locks.add(l) {
		close(l.done)
		_ = l.releaseLease(ctx)
		return nil, nil
	}
	go l.renew(start)
	return l, nil
}

// renew keeps the lease until stopped or lost: it renews it every third of
// the lease (unless a checkpoint commit, which refreshes the row too, did
// since), sooner after a failed renewal, and gives it up when a
// renewal finds another holder, or when none has succeeded for two thirds
// of the lease (counted from before the statement that last took or
// renewed it, which the server's now() comes after: the lease is given up
// a third of the lease before any other instance can take it).
func (l *processorLock) renew(renewed time.Time) {
	defer close(l.done)
	every := l.lease / 3
	giveUp := func() time.Time { return renewed.Add(2 * every) }
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if c := time.Unix(0, l.committed.Load()); c.After(renewed) {
			// A checkpoint commit refreshed the row meanwhile.
			renewed = c
			if wait := time.Until(renewed.Add(every)); wait > 0 {
				t.Reset(wait)
				continue
			}
		}
		start := time.Now()
		left := giveUp().Sub(start)
		if left <= 0 {
			l.abandon()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(every, left))
		tag, err := l.s.pool.Exec(ctx, refreshRowSQL, l.processor, l.instance)
		cancel()
		switch {
		case err == nil && tag.RowsAffected() == 0: // another instance holds it
			l.abandon()
			return
		case err == nil:
			renewed = start
			t.Reset(every)
		default:
			left := time.Until(giveUp())
			if left <= 0 {
				l.abandon()
				return
			}
			t.Reset(min(every/4, left))
		}
	}
}

// releaseLease frees the row, unless another instance holds it by now.
// Freeing a lost lease is tried too (its row may still name this
// instance), but its failure is no error.
func (l *processorLock) releaseLease(ctx context.Context) error {
	if l.freed.Swap(true) { // released already (by Release, or by the store's Close)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockCheckTimeout)
	defer cancel()
	if _, err := l.s.pool.Exec(ctx, releaseLeaseSQL, l.processor, l.instance); err != nil && !l.isLost() {
		return fmt.Errorf("postgres: releasing the lease of processor %q (it expires %s after its last renewal): %w", l.processor, l.lease, err)
	}
	return nil
}
