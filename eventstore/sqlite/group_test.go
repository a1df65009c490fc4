package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupCommit holds the writer with one append while others queue:
// the queued ones then run in one transaction (their hooks see one
// *sql.Tx), each in a savepoint of its own, so that the one whose
// expected version is wrong and the one whose hook fails are rolled back
// alone and the others are stored.
func TestGroupCommit(t *testing.T) {
	for _, mode := range []string{"file", "memory"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			path := ":memory:"
			if mode == "file" {
				path = filepath.Join(t.TempDir(), "group.db")
			}
			hold := make(chan struct{})
			var mu sync.Mutex
			txs := map[string]*sql.Tx{}
			failing := errors.New("hook failed")
			hook := func(ctx context.Context, tx *sql.Tx, _ string, res eventstore.AppendResult) error {
				stream := res.Events[0].StreamName
				mu.Lock()
				txs[stream] = tx
				mu.Unlock()
				if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS seen (stream TEXT)`); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO seen VALUES (?)`, stream); err != nil {
					return err
				}
				switch stream {
				case "first-1":
					<-hold
				case "failing-1":
					return failing
				}
				return nil
			}
			s, err := Open(ctx, path, WithBeforeCommit(hook))
			require.NoError(t, err)
			defer s.Close()
			_, err = s.AppendToStream(ctx, "existing-1", data(1))
			require.NoError(t, err)

			first := make(chan error, 1)
			go func() {
				_, err := s.AppendToStream(ctx, "first-1", data(1))
				first <- err
			}()
			require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return txs["first-1"] != nil }, 10*time.Second, time.Millisecond)

			type outcome struct {
				stream string
				err    error
			}
			queued := []struct {
				stream string
				opts   []eventstore.AppendOption
			}{
				{"a-1", nil},
				{"existing-1", []eventstore.AppendOption{eventstore.ExpectVersion(5)}}, // wrong
				{"b-1", nil},
				{"failing-1", nil},
				{"existing-1", []eventstore.AppendOption{eventstore.ExpectVersion(1)}},
				{"c-1", nil},
			}
			outcomes := make(chan outcome, len(queued))
			for i, q := range queued {
				go func() {
					_, err := s.AppendToStream(ctx, q.stream, data(1), q.opts...)
					outcomes <- outcome{q.stream, err}
				}()
				require.Eventually(t, func() bool { return s.queue.len() == i+1 }, 10*time.Second, time.Millisecond)
			}
			close(hold)
			require.NoError(t, <-first)
			errs := map[string][]error{}
			for range queued {
				o := <-outcomes
				errs[o.stream] = append(errs[o.stream], o.err)
			}

			for _, stream := range []string{"a-1", "b-1", "c-1"} {
				assert.Equal(t, []error{nil}, errs[stream], stream)
				v, _, err := s.StreamVersion(ctx, stream)
				require.NoError(t, err)
				assert.Equal(t, int64(1), v, "%s is stored", stream)
			}
			require.Len(t, errs["failing-1"], 1)
			assert.ErrorIs(t, errs["failing-1"][0], failing)
			_, exists, err := s.StreamVersion(ctx, "failing-1")
			require.NoError(t, err)
			assert.False(t, exists, "the failing append is rolled back")
			require.Len(t, errs["existing-1"], 2)
			conflicts := 0
			for _, err := range errs["existing-1"] {
				if err != nil {
					assert.ErrorIs(t, err, eventstore.ErrVersionConflict)
					conflicts++
				}
			}
			assert.Equal(t, 1, conflicts, "the append with the wrong version, and it alone, conflicts")
			v, _, err := s.StreamVersion(ctx, "existing-1")
			require.NoError(t, err)
			assert.Equal(t, int64(2), v)

			mu.Lock()
			assert.NotSame(t, txs["first-1"], txs["a-1"], "the queued appends ran after the first one's transaction")
			for _, stream := range []string{"b-1", "c-1", "failing-1", "existing-1"} {
				assert.Same(t, txs["a-1"], txs[stream], "%s committed with a-1", stream)
			}
			mu.Unlock()
			var seen []string
			rows, err := s.w.db.QueryContext(ctx, `SELECT stream FROM seen ORDER BY rowid`)
			require.NoError(t, err)
			for rows.Next() {
				var stream string
				require.NoError(t, rows.Scan(&stream))
				seen = append(seen, stream)
			}
			require.NoError(t, rows.Err())
			assert.ElementsMatch(t, []string{"existing-1", "first-1", "a-1", "b-1", "existing-1", "c-1"}, seen,
				"the hooks' writes of the appends rolled back are gone, the others stored")
		})
	}
}

// TestGroupCommitContextEndsWhileQueued checks that an append whose
// context ends while it waits for the writer stores nothing and says so.
func TestGroupCommitContextEndsWhileQueued(t *testing.T) {
	ctx := context.Background()
	hold := make(chan struct{})
	started := make(chan struct{})
	hook := func(ctx context.Context, tx *sql.Tx, _ string, res eventstore.AppendResult) error {
		if res.Events[0].StreamName == "first-1" {
			close(started)
			<-hold
		}
		return nil
	}
	s, first := holdWriter(t, "queued.db", hook, started)
	short, cancel := context.WithCancel(ctx)
	queued := make(chan error, 1)
	go func() {
		_, err := s.AppendToStream(short, "queued-1", data(1))
		queued <- err
	}()
	require.Eventually(t, func() bool { return s.queue.len() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-queued, context.Canceled)
	assert.Zero(t, s.queue.len(), "it left the queue")
	close(hold)
	require.NoError(t, <-first)
	_, exists, err := s.StreamVersion(ctx, "queued-1")
	require.NoError(t, err)
	assert.False(t, exists)
}

// TestGroupCommitInterruptedAppend interrupts a write of one append of a
// group as its context ends: SQLite then rolls back the whole transaction,
// not just the append's savepoint. That append fails; the others, before
// and after it in the group, are run again in a new transaction and
// stored, and say so.
func TestGroupCommitInterruptedAppend(t *testing.T) {
	ctx := context.Background()
	hold := make(chan struct{})
	started := make(chan struct{})
	var cancelSlow context.CancelFunc
	hook := func(ctx context.Context, tx *sql.Tx, _ string, res eventstore.AppendResult) error {
		switch res.Events[0].StreamName {
		case "first-1":
			close(started)
			<-hold
		case "slow-1":
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS big (i INTEGER)`); err != nil {
				return err
			}
			time.AfterFunc(50*time.Millisecond, cancelSlow)
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1000000000) INSERT INTO big SELECT i FROM r`)
			return err
		}
		return nil
	}
	s, first := holdWriter(t, "interrupted.db", hook, started)

	slowCtx, cancel := context.WithCancel(ctx)
	cancelSlow = cancel
	defer cancel()
	results := map[string]chan error{}
	for i, stream := range []string{"a-1", "slow-1", "c-1"} {
		results[stream] = make(chan error, 1)
		actx := ctx
		if stream == "slow-1" {
			actx = slowCtx
		}
		go func() {
			_, err := s.AppendToStream(actx, stream, data(1))
			results[stream] <- err
		}()
		require.Eventually(t, func() bool { return s.queue.len() == i+1 }, 10*time.Second, time.Millisecond)
	}
	close(hold)
	require.NoError(t, <-first)
	require.ErrorIs(t, <-results["slow-1"], context.Canceled)
	require.NoError(t, <-results["a-1"])
	require.NoError(t, <-results["c-1"])
	for stream, want := range map[string]bool{"a-1": true, "slow-1": false, "c-1": true, "first-1": true} {
		_, exists, err := s.StreamVersion(ctx, stream)
		require.NoError(t, err)
		assert.Equal(t, want, exists, stream)
	}
	_, err := s.AppendToStream(ctx, "a-1", data(1), eventstore.ExpectVersion(1))
	require.NoError(t, err, "the store goes on")
}

// TestGroupCommitHookPanics checks that a hook's panic reaches the caller
// whose goroutine ran the group, stores nothing of it, and leaves the
// writer to the appends after it.
func TestGroupCommitHookPanics(t *testing.T) {
	ctx := context.Background()
	hook := func(ctx context.Context, tx *sql.Tx, _ string, res eventstore.AppendResult) error {
		if res.Events[0].StreamName == "panics-1" {
			panic("hook bug")
		}
		return nil
	}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "panics.db"), WithBeforeCommit(hook))
	require.NoError(t, err)
	defer s.Close()
	assert.PanicsWithValue(t, "hook bug", func() { _, _ = s.AppendToStream(ctx, "panics-1", data(1)) })
	_, exists, err := s.StreamVersion(ctx, "panics-1")
	require.NoError(t, err)
	assert.False(t, exists)
	done := make(chan error, 1)
	go func() {
		_, err := s.AppendToStream(ctx, "after-1", data(1))
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err, "the writer was released")
	case <-time.After(10 * time.Second):
		t.Fatal("the append after the panic waits for a writer never released")
	}
}

// holdWriter opens a store on a file with hook, and starts an append to
// first-1, whose hook holds the writer: it returns once the hook closed
// started, with the channel the append's outcome comes on.
func holdWriter(t *testing.T, file string, hook BeforeCommitHook, started <-chan struct{}) (*Store, <-chan error) {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), file), WithBeforeCommit(hook))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	first := make(chan error, 1)
	go func() {
		_, err := s.AppendToStream(context.Background(), "first-1", data(1))
		first <- err
	}()
	<-started
	return s, first
}
