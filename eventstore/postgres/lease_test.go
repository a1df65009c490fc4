package postgres_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leaseSetup opens stores whose processor locks are leases: on direct
// connections (WithLeaseLocks), or through a PgBouncer in transaction
// mode (WithPooler).
type leaseSetup struct {
	name string
	open func(t *testing.T, db string, opts ...postgres.Option) *postgres.Store
}

func leaseSetups() []leaseSetup {
	openWith := func(t *testing.T, url string, opts []postgres.Option) *postgres.Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := postgres.Open(ctx, url, append([]postgres.Option{postgres.WithReadAllWait(readAllWait)}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	var bouncers sync.Map // of each (sub)test: a bouncer starts in milliseconds
	return []leaseSetup{
		{"Direct", func(t *testing.T, db string, opts ...postgres.Option) *postgres.Store {
			return openWith(t, db, opts)
		}},
		{"Pooler", func(t *testing.T, db string, opts ...postgres.Option) *postgres.Store {
			b, ok := bouncers.Load(t)
			if !ok {
				b = newBouncer(t)
				bouncers.Store(t, b)
			}
			return openWith(t, b.(*pgtest.Bouncer).Through(db), append([]postgres.Option{postgres.WithPooler()}, opts...))
		}},
	}
}

// pos is a position for checkpoints (the tests move checkpoints, they
// read no events).
func pos(n int64) eventstore.Position {
	return eventstore.Position{TransactionID: 10, GlobalPosition: n}
}

// lastUpdated is the processor row's last_updated, and the server's now(),
// in microseconds since the epoch.
func lastUpdated(t *testing.T, db, id string) (updated, now int64) {
	t.Helper()
	admin := adminPool(t, db)
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT (extract(epoch FROM last_updated) * 1e6)::bigint,
    (extract(epoch FROM clock_timestamp()) * 1e6)::bigint FROM emt_processors WHERE processor_id = $1`, id).Scan(&updated, &now))
	return updated, now
}

// TestLeaseTakeover: a holder that stops renewing its lease (its process
// froze) is taken over by another instance once the lease has expired,
// not before; the old holder's commit then changes nothing and fails with
// ErrLockLost, and the new holder goes on from the checkpoint.
func TestLeaseTakeover(t *testing.T) {
	t.Parallel()
	const lease = 1500 * time.Millisecond
	for _, setup := range leaseSetups() {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newMigratedDatabase(t)
			a := setup.open(t, db, postgres.WithLeaseLocks(lease))
			b := setup.open(t, db, postgres.WithLeaseLocks(lease))
			admin := adminPool(t, db)

			la, err := a.Processors().Lock(ctx, "p")
			require.NoError(t, err)
			row := readProcessorRow(t, admin, "p")
			assert.Equal(t, "running", row.Status)
			assert.True(t, strings.HasPrefix(row.Instance, "emt-go-lease:1500:p:"), "the instance id records the lease: %s", row.Instance)
			require.NoError(t, a.Processors().Commit(ctx, "p", eventstore.Position{}, pos(1), nil))

			// Emmett for Node does not take a held lease either.
			var acquired bool
			require.NoError(t, admin.QueryRow(ctx, `SELECT acquired FROM emt_try_acquire_processor_lock($1, 'p', 1, 'emt:default', 'p:node-instance')`,
				postgres.ProcessorLockKey("p")).Scan(&acquired))
			assert.False(t, acquired, "Node's emt_try_acquire_processor_lock fails while a lease is held")

			postgres.StopRenewing(la)
			renewed, _ := lastUpdated(t, db, "p")
			lockCtx, cancel := context.WithTimeout(ctx, lease+20*time.Second)
			defer cancel()
			lb, err := b.Processors().Lock(lockCtx, "p")
			require.NoError(t, err, "the lease is taken over once it has expired")
			_, takenBy := lastUpdated(t, db, "p")
			assert.GreaterOrEqual(t, takenBy-renewed, lease.Microseconds(), "not before the lease expired (server's clock)")
			assert.NotEqual(t, row.Instance, readProcessorRow(t, admin, "p").Instance, "a new instance id, a new fencing token")

			// The frozen holder wakes up and commits: nothing changes.
			err = a.Processors().Commit(ctx, "p", pos(1), pos(2), func(ctx context.Context, tx projection.Tx) error {
				return tx.Documents().Put(ctx, "fenced", "doc-1", []byte(`{"n": 1}`))
			})
			require.ErrorIs(t, err, projection.ErrLockLost)
			select {
			case <-la.Lost():
			default:
				t.Fatal("Lost is closed once a commit found the lease taken over")
			}
			cp, _, err := b.Processors().ReadCheckpoint(ctx, "p")
			require.NoError(t, err)
			assert.Equal(t, pos(1), cp, "the fenced commit moved nothing")
			_, found, err := b.Documents().Get(ctx, "fenced", "doc-1")
			require.NoError(t, err)
			assert.False(t, found, "the fenced commit wrote nothing")

			require.NoError(t, b.Processors().Commit(ctx, "p", pos(1), pos(2), nil), "the new holder goes on")
			require.NoError(t, la.Release(ctx), "releasing a lost lease is not an error")
			assert.Equal(t, "running", readProcessorRow(t, admin, "p").Status, "and leaves the new holder's row alone")
			require.NoError(t, lb.Release(ctx))
			row = readProcessorRow(t, admin, "p")
			assert.Equal(t, "stopped", row.Status)
			assert.Equal(t, "emt:unknown", row.Instance)
			assert.Equal(t, "00000000000000000010:0000000000000000002", row.Checkpoint)
		})
	}
}

// TestLeaseRenewed: a holder that renews its lease keeps it for longer
// than the lease, and hands it over at once when it releases it.
func TestLeaseRenewed(t *testing.T) {
	t.Parallel()
	const lease = 1200 * time.Millisecond
	for _, setup := range leaseSetups() {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newMigratedDatabase(t)
			a := setup.open(t, db, postgres.WithLeaseLocks(lease))
			b := setup.open(t, db, postgres.WithLeaseLocks(lease))

			la, err := a.Processors().Lock(ctx, "p")
			require.NoError(t, err)
			wait, cancel := context.WithTimeout(ctx, 4*lease)
			defer cancel()
			_, err = b.Processors().Lock(wait, "p")
			require.ErrorIs(t, err, context.DeadlineExceeded, "a renewed lease is kept")
			select {
			case <-la.Lost():
				t.Fatal("a renewed lease is not lost")
			default:
			}
			require.NoError(t, a.Processors().Commit(ctx, "p", eventstore.Position{}, pos(1), nil))

			lbCh := make(chan projection.Lock, 1)
			go func() {
				l, err := b.Processors().Lock(ctx, "p")
				if assert.NoError(t, err) {
					lbCh <- l
				}
			}()
			require.NoError(t, la.Release(ctx))
			select {
			case lb := <-lbCh:
				require.NoError(t, lb.Release(ctx))
			case <-time.After(10 * time.Second):
				t.Fatal("a released lease is taken at once")
			}
		})
	}
}

// TestLeaseExclusive: instances contending for one processor's lease,
// all at once and round after round, never hold it together: each holder
// finds no other, and moves the checkpoint on from where the previous one
// left it.
func TestLeaseExclusive(t *testing.T) {
	t.Parallel()
	const instances, rounds = 4, 6
	for _, setup := range leaseSetups() {
		t.Run(setup.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			db := newMigratedDatabase(t)
			stores := make([]*postgres.Store, instances)
			for i := range stores {
				stores[i] = setup.open(t, db, postgres.WithLeaseLocks(2*time.Second))
			}
			var holders, most, commits atomic.Int32
			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range rounds {
						l, err := s.Processors().Lock(ctx, "p")
						if !assert.NoError(t, err) {
							return
						}
						n := holders.Add(1)
						for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
						}
						from, _, err := s.Processors().ReadCheckpoint(ctx, "p")
						if assert.NoError(t, err) &&
							assert.NoError(t, s.Processors().Commit(ctx, "p", from, pos(from.GlobalPosition+1), nil)) {
							commits.Add(1)
						}
						holders.Add(-1)
						assert.NoError(t, l.Release(ctx))
					}
				}()
			}
			close(start) // every instance contends at once
			wg.Wait()
			assert.Equal(t, int32(1), most.Load(), "never two holders at once")
			assert.Equal(t, int32(instances*rounds), commits.Load())
			cp, _, err := stores[0].Processors().ReadCheckpoint(ctx, "p")
			require.NoError(t, err)
			assert.Equal(t, pos(instances*rounds), cp, "each holder moved the checkpoint on from the previous one's")
		})
	}
}

// TestLeaseLostWhenUnreachable: a holder that cannot reach the database
// (its pooler is gone) counts its lease as lost, and an instance behind
// another pooler takes the processor over once the lease has expired.
func TestLeaseLostWhenUnreachable(t *testing.T) {
	t.Parallel()
	const lease = 1500 * time.Millisecond
	ctx := context.Background()
	db := newMigratedDatabase(t)
	gone, other := newBouncer(t), newBouncer(t)
	open := func(b *pgtest.Bouncer) *postgres.Store {
		s, err := postgres.Open(ctx, b.Through(db), postgres.WithPooler(), postgres.WithLeaseLocks(lease))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(gone), open(other)

	la, err := a.Processors().Lock(ctx, "p")
	require.NoError(t, err)
	lbCh := make(chan projection.Lock, 1)
	go func() {
		l, err := b.Processors().Lock(ctx, "p")
		if assert.NoError(t, err) {
			lbCh <- l
		}
	}()
	require.NoError(t, gone.Close())
	select {
	case <-la.Lost():
	case <-time.After(lease + 20*time.Second):
		t.Fatal("the unreachable holder's lease is not counted as lost")
	}
	var lb projection.Lock
	select {
	case lb = <-lbCh:
	case <-time.After(lease + 20*time.Second):
		t.Fatal("the lease is not taken over")
	}
	require.NoError(t, b.Processors().Commit(ctx, "p", eventstore.Position{}, pos(1), nil))
	require.NoError(t, lb.Release(ctx))
}

// TestLeaseAndAdvisoryLocks: instances with leases and instances with
// advisory locks (a rolling change of configuration) exclude each other.
func TestLeaseAndAdvisoryLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	advisory, db := openStore(t)
	lease, err := postgres.Open(ctx, db, postgres.WithLeaseLocks(time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = lease.Close() })

	l, err := advisory.Processors().Lock(ctx, "p")
	require.NoError(t, err)
	wait, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	_, err = lease.Processors().Lock(wait, "p")
	require.ErrorIs(t, err, context.DeadlineExceeded, "a lease is not taken while an advisory lock is held")
	require.NoError(t, l.Release(ctx))

	l, err = lease.Processors().Lock(ctx, "p")
	require.NoError(t, err)
	wait, cancel = context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	_, err = advisory.Processors().Lock(wait, "p")
	require.ErrorIs(t, err, context.DeadlineExceeded, "an advisory lock does not take a renewed lease's row")
	require.NoError(t, l.Release(ctx))
	l, err = advisory.Processors().Lock(ctx, "p")
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
}
