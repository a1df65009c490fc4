package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// ErrReplicaBehind is matched by the error of a read through a Replica
// (WithoutPrimaryFallback) whose standby had not replayed the read's
// position (eventstore.WithMinPosition) within the wait, and of
// Replica.WaitFor. That error matches eventstore.ErrUnavailable too: the
// same read may succeed later (httpapi answers it 503).
var ErrReplicaBehind = errors.New("postgres: the standby has not replayed the position")

// DefaultReplicaWait is how long a read through a Replica waits for its
// standby to replay the read's position, unless WithReplicaWait says
// otherwise.
const DefaultReplicaWait = time.Second

type replicaConfig struct {
	wait     time.Duration
	fallback bool
}

// ReplicaOption configures a Replica.
type ReplicaOption func(*replicaConfig)

// WithReplicaWait sets how long a read carrying a position waits for the
// standby to replay it (DefaultReplicaWait by default; 0 does not wait,
// the standby has it or the read falls back at once).
func WithReplicaWait(d time.Duration) ReplicaOption {
	return func(c *replicaConfig) { c.wait = max(d, 0) }
}

// WithoutPrimaryFallback makes a read whose standby has not replayed its
// position within the wait fail with ErrReplicaBehind, instead of reading
// from the primary: for deployments where the primary must not take the
// reads.
func WithoutPrimaryFallback() ReplicaOption { return func(c *replicaConfig) { c.fallback = false } }

// Replica is an eventstore.Store that writes to a primary and reads from
// a hot standby that follows it by streaming replication, keeping read
// your writes: a read whose context carries a position
// (eventstore.WithMinPosition; what an append returned) waits until the
// standby has replayed it, up to WithReplicaWait, and then reads from the
// standby; when the standby is still behind, it reads from the primary
// (or fails with ErrReplicaBehind, WithoutPrimaryFallback); so does a read
// whose wait cannot reach the standby (eventstore.ErrUnavailable). A read
// without a position reads from the standby as it is: recent writes may be
// missing, and the standby's errors are the read's.
//
// An event's position maps to the commit that wrote it: the standby has
// replayed that commit exactly when the event's row is visible there (the
// transaction id and global position of the position, found by the
// messages' index). A position that carries only an LSN (Sync, a
// logical-replication commit's end) is replayed when the standby's
// pg_last_wal_replay_lsn() has reached it. A bare global position ("42")
// is resolved on the primary first.
//
// Appends, document writes and ResolvePosition go to the primary. Open
// the standby's store WithoutMigration (a standby refuses DDL) and without
// inline projections; processors run on the primary (Primary).
type Replica struct {
	primary, standby *Store
	cfg              replicaConfig
}

var (
	_ eventstore.Store           = (*Replica)(nil)
	_ projection.VersionResolver = replicaDocs{}
)

// NewReplica returns a Replica writing to primary and reading from
// standby, a store on a streaming-replication standby of primary's
// database. It does not own them: close them yourself.
func NewReplica(primary, standby *Store, opts ...ReplicaOption) *Replica {
	r := &Replica{primary: primary, standby: standby, cfg: replicaConfig{wait: DefaultReplicaWait, fallback: true}}
	for _, o := range opts {
		if o != nil {
			o(&r.cfg)
		}
	}
	return r
}

// Primary returns the store on the primary.
func (r *Replica) Primary() *Store { return r.primary }

// Standby returns the store on the standby.
func (r *Replica) Standby() *Store { return r.standby }

// AppendToStream appends on the primary.
func (r *Replica) AppendToStream(ctx context.Context, stream string, events []eventstore.EventData, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return r.primary.AppendToStream(ctx, stream, events, opts...)
}

// ReadStream reads the stream from the standby, once it has replayed the
// context's position (see Replica).
func (r *Replica) ReadStream(ctx context.Context, stream string, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return func(yield func(emmett.RecordedEvent, error) bool) {
		s, err := r.reader(ctx)
		if err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		s.ReadStream(ctx, stream, opts...)(yield)
	}
}

// StreamVersion returns the stream's version on the standby, once it has
// replayed the context's position (see Replica).
func (r *Replica) StreamVersion(ctx context.Context, stream string, opts ...eventstore.ReadOption) (int64, bool, error) {
	s, err := r.reader(ctx)
	if err != nil {
		return 0, false, err
	}
	return s.StreamVersion(ctx, stream, opts...)
}

// ReadAll reads the global log from the standby, once it has replayed the
// context's position (see Replica).
func (r *Replica) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[emmett.RecordedEvent, error] {
	return func(yield func(emmett.RecordedEvent, error) bool) {
		s, err := r.reader(ctx)
		if err != nil {
			yield(emmett.RecordedEvent{}, err)
			return
		}
		s.ReadAll(ctx, after, opts...)(yield)
	}
}

// Head returns the position of the last event a ReadAll of the standby
// returns now, once it has replayed the context's position: with it, the
// live event feeds of httpapi follow the standby.
func (r *Replica) Head(ctx context.Context) (eventstore.Position, error) {
	s, err := r.reader(ctx)
	if err != nil {
		return eventstore.Position{}, err
	}
	return s.Head(ctx)
}

// ResolvePosition resolves p on the primary: a position a client sends
// back may be newer than what the standby has replayed.
func (r *Replica) ResolvePosition(ctx context.Context, p eventstore.Position) (eventstore.Position, error) {
	return r.primary.ResolvePosition(ctx, p)
}

// Documents returns the documents of the standby for reads (Get, Find,
// Count), once it has replayed the context's position, and of the primary
// for writes. To read an asynchronous read model's own writes, wait for
// its processor (projection.Processor.WaitFor) and then for Sync's
// position: the processor commits on the primary.
func (r *Replica) Documents() projection.DocumentStore { return replicaDocs{r} }

// Sync returns a position of the primary's write-ahead log as it is now:
// read with it (eventstore.WithMinPosition), a read on the standby sees
// every transaction committed on the primary before Sync was called
// (documents a processor wrote, rows of the application's own). The
// position carries the end of the last WAL record inserted on the primary
// (pg_current_wal_insert_lsn()), which is at or past the end of every
// commit record written before the call, flushed or not.
func (r *Replica) Sync(ctx context.Context) (eventstore.Position, error) {
	if r.primary.closed.Load() {
		return eventstore.Position{}, eventstore.ErrClosed
	}
	var lsn, page, segment uint64
	err := r.primary.pool.QueryRow(ctx, syncSQL).Scan(&lsn, &page, &segment)
	if err != nil {
		return eventstore.Position{}, r.primary.readError(ctx, "reading the WAL position", err)
	}
	return lsnPosition(recordEnd(lsn, page, segment)), nil
}

const syncSQL = `SELECT (pg_current_wal_insert_lsn() - '0/0')::numeric::bigint,
  current_setting('wal_block_size')::bigint,
  (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')`

// recordEnd turns the insert position into the end of the last record.
// When the last record ended at a page boundary, the insert position is
// past the next page's header (24 bytes, 40 at the start of a segment),
// where no record ends: the standby's replay position (the end of the last
// record replayed) would stay short of it until another record came.
func recordEnd(lsn, page, segment uint64) uint64 {
	const shortHeader, longHeader = 24, 40
	switch {
	case segment > 0 && lsn%segment == longHeader:
		return lsn - longHeader
	case page > 0 && lsn%page == shortHeader:
		return lsn - shortHeader
	}
	return lsn
}

// lsnPosition is the position of a WAL position alone; as in the
// replication package, its transaction id is the largest, so that it comes
// after every position without an LSN.
func lsnPosition(lsn uint64) eventstore.Position {
	return eventstore.Position{LSN: lsn, TransactionID: math.MaxUint64}
}

// WaitFor waits until the standby has replayed pos, up to the Replica's
// wait (WithReplicaWait) or until ctx ends; the error matches
// ErrReplicaBehind when the wait ran out.
func (r *Replica) WaitFor(ctx context.Context, pos eventstore.Position) error {
	ok, err := r.waitReplayed(ctx, pos)
	if err != nil {
		return err
	}
	if !ok {
		return r.behind(pos)
	}
	return nil
}

func (r *Replica) behind(pos eventstore.Position) error {
	return &behindError{pos: pos, wait: r.cfg.wait}
}

// behindError is the error of a read whose standby is behind. It matches
// ErrReplicaBehind and eventstore.ErrUnavailable: the same read may
// succeed later.
type behindError struct {
	pos  eventstore.Position
	wait time.Duration
}

func (e *behindError) Error() string {
	return fmt.Sprintf("%s %s within %s", ErrReplicaBehind, e.pos, e.wait)
}

func (e *behindError) Is(target error) bool {
	return target == ErrReplicaBehind || target == eventstore.ErrUnavailable
}

// reader returns the store a read with ctx reads from: the standby, once
// it has replayed the context's position; else the primary, or an error.
func (r *Replica) reader(ctx context.Context) (*Store, error) {
	pos, ok := eventstore.MinPosition(ctx)
	if !ok || pos.IsZero() {
		return r.standby, nil
	}
	replayed, err := r.waitReplayed(ctx, pos)
	switch {
	case err == nil && replayed:
		return r.standby, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil && !(r.cfg.fallback && errors.Is(err, eventstore.ErrUnavailable)):
		return nil, err
	case !r.cfg.fallback:
		return nil, r.behind(pos)
	}
	return r.primary, nil
}

// waitReplayed polls the standby until it has replayed pos, for up to the
// configured wait. It reports whether it has.
func (r *Replica) waitReplayed(ctx context.Context, pos eventstore.Position) (bool, error) {
	check, err := r.replayCheck(ctx, pos)
	if err != nil || check == nil {
		return check == nil && err == nil, err
	}
	deadline := time.Now().Add(r.cfg.wait)
	// A standby a commit behind replays it in a millisecond or less: look
	// again soon, then less and less often.
	pause := 500 * time.Microsecond
	for {
		done, err := check()
		if err != nil || done {
			return done, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

const (
	// eventReplayedSQL: the event's row is visible on the standby exactly
	// when the standby has replayed the commit of its transaction. The
	// row is looked for archived or not (ArchiveStream keeps both ids).
	eventReplayedSQL = `SELECT EXISTS (SELECT 1 FROM emt_messages WHERE transaction_id = $1::xid8 AND global_position = $2)`
	// lsnReplayedSQL: a server that is not in recovery (a primary given as
	// the standby) has everything it committed.
	lsnReplayedSQL = `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, NOT pg_is_in_recovery())`
)

// replayCheck returns the query that tells whether the standby has
// replayed pos; nil when there is nothing to wait for.
func (r *Replica) replayCheck(ctx context.Context, pos eventstore.Position) (func() (bool, error), error) {
	if r.standby.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	query := func(sql string, args ...any) func() (bool, error) {
		return func() (bool, error) {
			var done bool
			if err := r.standby.pool.QueryRow(ctx, sql, args...).Scan(&done); err != nil {
				return false, r.standby.readError(ctx, "asking the standby what it has replayed", err)
			}
			return done, nil
		}
	}
	switch {
	case pos.GlobalPosition > 0 && pos.TransactionID == 0:
		// A bare global position: its event's transaction, from the
		// primary.
		resolved, err := r.primary.ResolvePosition(ctx, pos)
		if err != nil {
			return nil, err
		}
		return query(eventReplayedSQL, resolved.TransactionID, resolved.GlobalPosition), nil
	case pos.GlobalPosition > 0 && pos.TransactionID != math.MaxUint64:
		return query(eventReplayedSQL, pos.TransactionID, pos.GlobalPosition), nil
	case pos.LSN > 1: // 1 is the replication package's HistoryLSN, no WAL position
		return query(lsnReplayedSQL, fmt.Sprintf("%X/%X", pos.LSN>>32, uint32(pos.LSN))), nil
	}
	return nil, nil
}

// replicaDocs reads documents from the standby and writes them on the
// primary.
type replicaDocs struct{ r *Replica }

func (d replicaDocs) reader(ctx context.Context) (projection.DocumentStore, error) {
	s, err := d.r.reader(ctx)
	if err != nil {
		return nil, err
	}
	return s.Documents(), nil
}

// Get implements projection.DocumentStore, on the standby.
func (d replicaDocs) Get(ctx context.Context, collection, id string) ([]byte, bool, error) {
	docs, err := d.reader(ctx)
	if err != nil {
		return nil, false, err
	}
	return docs.Get(ctx, collection, id)
}

// Find implements projection.DocumentStore, on the standby.
func (d replicaDocs) Find(ctx context.Context, collection string, q projection.Query) iter.Seq2[projection.Document, error] {
	return func(yield func(projection.Document, error) bool) {
		docs, err := d.reader(ctx)
		if err != nil {
			yield(projection.Document{}, err)
			return
		}
		docs.Find(ctx, collection, q)(yield)
	}
}

// Count implements projection.DocumentStore, on the standby.
func (d replicaDocs) Count(ctx context.Context, collection string, q projection.Query) (int64, error) {
	docs, err := d.reader(ctx)
	if err != nil {
		return 0, err
	}
	return docs.Count(ctx, collection, q)
}

// Put implements projection.DocumentStore, on the primary.
func (d replicaDocs) Put(ctx context.Context, collection, id string, data []byte) error {
	return d.r.primary.Documents().Put(ctx, collection, id, data)
}

// Delete implements projection.DocumentStore, on the primary.
func (d replicaDocs) Delete(ctx context.Context, collection, id string) error {
	return d.r.primary.Documents().Delete(ctx, collection, id)
}

// DeleteAll implements projection.DocumentStore, on the primary.
func (d replicaDocs) DeleteAll(ctx context.Context, collection string) error {
	return d.r.primary.Documents().DeleteAll(ctx, collection)
}

// EnsureIndex implements projection.DocumentStore, on the primary.
func (d replicaDocs) EnsureIndex(ctx context.Context, collection, path string) error {
	return d.r.primary.Documents().EnsureIndex(ctx, collection, path)
}

// ActiveVersion implements projection.VersionResolver, on the standby: a
// projection's Collection over the Replica's documents reads the active
// version's collection.
func (d replicaDocs) ActiveVersion(ctx context.Context, projectionName string) (int, bool, error) {
	docs, err := d.reader(ctx)
	if err != nil {
		return 0, false, err
	}
	if vr, ok := docs.(projection.VersionResolver); ok {
		return vr.ActiveVersion(ctx, projectionName)
	}
	return 0, false, nil
}
