package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func data(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{Type: "E", Data: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	return out
}

// TestBeforeCommit checks the place inline projections run: inside the
// append's transaction, after the events are written, with their positions;
// its writes commit with the append, and its error rolls the append back.
func TestBeforeCommit(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"file", "memory"} {
		t.Run(mode, func(t *testing.T) {
			path := ":memory:"
			if mode == "file" {
				path = filepath.Join(t.TempDir(), "hook.db")
			}
			fail := errors.New("projection failed")
			type call struct {
				partition string
				result    eventstore.AppendResult
			}
			var calls []call
			hook := func(ctx context.Context, tx *sql.Tx, partition string, res eventstore.AppendResult) error {
				calls = append(calls, call{partition, res})
				stream := res.Events[0].StreamName
				if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS counts (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
					return err
				}
				// The events are visible inside the transaction.
				var stored int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM emt_messages WHERE stream_id = ?`, stream).Scan(&stored); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO counts VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET n = excluded.n`, stream, stored); err != nil {
					return err
				}
				if stream == "poison-1" {
					return fail
				}
				return nil
			}
			s, err := Open(ctx, path, WithBeforeCommit(hook))
			require.NoError(t, err)
			defer s.Close()

			res, err := s.AppendToStream(ctx, "cart-1", data(3))
			require.NoError(t, err)
			require.Len(t, calls, 1)
			assert.Equal(t, eventstore.DefaultPartition, calls[0].partition)
			assert.Equal(t, res, calls[0].result, "the hook sees the append's result, positions included")

			_, err = s.AppendToStream(ctx, "poison-1", data(2))
			assert.ErrorIs(t, err, fail, "the hook's error is the append's")
			v, exists, err := s.StreamVersion(ctx, "poison-1")
			require.NoError(t, err)
			assert.False(t, exists, "a failed hook rolls the append back")
			assert.Zero(t, v)

			next, err := s.AppendToStream(ctx, "cart-1", data(1), eventstore.ExpectVersion(3))
			require.NoError(t, err)
			assert.Equal(t, res.Position.GlobalPosition+1, next.Position.GlobalPosition, "the rolled-back append took no global position")

			var n int
			require.NoError(t, s.readers.QueryRowContext(ctx, `SELECT n FROM counts WHERE stream = 'cart-1'`).Scan(&n))
			assert.Equal(t, 4, n, "the hook's writes commit with the append")
			err = s.readers.QueryRowContext(ctx, `SELECT n FROM counts WHERE stream = 'poison-1'`).Scan(&n)
			assert.ErrorIs(t, err, sql.ErrNoRows, "and roll back with it")
		})
	}
}

func TestNotifier(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer s.Close()

	woken, last := s.notify.wait()
	assert.Zero(t, last)
	select {
	case <-woken:
		t.Fatal("woken before any append")
	default:
	}
	res, err := s.AppendToStream(ctx, "n-1", data(2))
	require.NoError(t, err)
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("an append does not wake the waiters")
	}
	_, last = s.notify.wait()
	assert.Equal(t, res.Position.GlobalPosition, last)

	// A refused append wakes nobody.
	woken, _ = s.notify.wait()
	_, err = s.AppendToStream(ctx, "n-1", data(1), eventstore.ExpectNoStream())
	require.ErrorIs(t, err, eventstore.ErrVersionConflict)
	select {
	case <-woken:
		t.Fatal("woken by a refused append")
	default:
	}
}

func TestParseCreated(t *testing.T) {
	want := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	for _, s := range []string{
		"2025-03-14 15:09:26.535897",
		"2025-03-14T15:09:26.535897",
		"2025-03-14 15:09:26.535897Z",
		"2025-03-14T15:09:26.535897+00:00",
		"2025-03-14T16:09:26.535897+01:00",
	} {
		got, err := parseCreated([]byte(s))
		require.NoError(t, err, s)
		assert.True(t, want.Equal(got), "%s: got %s", s, got)
		assert.Equal(t, time.UTC, got.Location(), s)
	}
	got, err := parseCreated([]byte("2025-03-14 15:09:26"))
	require.NoError(t, err)
	assert.Equal(t, want.Truncate(time.Second), got, "CURRENT_TIMESTAMP's form (Emmett for Node's default)")
	got, err = parseCreated([]byte("2025-03-14 15:09:26.5"))
	require.NoError(t, err)
	assert.Equal(t, want.Truncate(time.Second).Add(500*time.Millisecond), got)
	for _, bad := range []string{"", "yesterday", "2025-13-14 15:09:26", "2025-03-14 15:09:26.", "2025-03-14 15:09:26.abc"} {
		_, err := parseCreated([]byte(bad))
		assert.Error(t, err, bad)
	}
	b := appendCreated(nil, want)
	assert.Equal(t, "2025-03-14 15:09:26.535897", string(b))
}

// TestCancelMidTransaction cancels the context while the append's
// transaction is open (from a BeforeCommit hook, after the events are
// written): the append returns the context's error and nothing is stored.
func TestCancelMidTransaction(t *testing.T) {
	for _, mode := range []string{"file", "memory"} {
		t.Run(mode, func(t *testing.T) {
			path := ":memory:"
			if mode == "file" {
				path = filepath.Join(t.TempDir(), "cancel.db")
			}
			var cancel context.CancelFunc
			hook := func(ctx context.Context, tx *sql.Tx, partition string, res eventstore.AppendResult) error {
				if res.Events[0].StreamName == "cancelled-1" {
					cancel()
				}
				return nil
			}
			s, err := Open(context.Background(), path, WithBeforeCommit(hook))
			require.NoError(t, err)
			defer s.Close()

			ctx, cancelCtx := context.WithCancel(context.Background())
			defer cancelCtx()
			cancel = cancelCtx
			_, err = s.AppendToStream(ctx, "cancelled-1", data(3))
			assert.ErrorIs(t, err, context.Canceled)

			ctx = context.Background()
			_, exists, err := s.StreamVersion(ctx, "cancelled-1")
			require.NoError(t, err)
			assert.False(t, exists, "nothing of the cancelled append is stored")
			res, err := s.AppendToStream(ctx, "next-1", data(1))
			require.NoError(t, err, "the store works on after the cancelled append")
			assert.Equal(t, int64(1), res.Position.GlobalPosition, "the cancelled append took no global position")

			// A deadline that passes while the append waits for the writer.
			s.w.sem <- struct{}{}
			ctx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer stop()
			_, err = s.AppendToStream(ctx, "waiting-1", data(1))
			<-s.w.sem
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

// TestAppendWhileReading appends from inside read loops, on the in-memory
// store whose reads and writes share one connection: pages release the
// connection before they are yielded, so nothing waits for itself.
func TestAppendWhileReading(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer s.Close()
	_, err = s.AppendToStream(ctx, "loop-1", data(pageSize+10))
	require.NoError(t, err)

	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		for _, err := range s.ReadStream(ctx, "loop-1") {
			if !assert.NoError(t, err) {
				return
			}
			if n++; n%300 == 0 {
				_, err := s.AppendToStream(ctx, "loop-2", data(1))
				assert.NoError(t, err)
			}
		}
		assert.Equal(t, pageSize+10, n)
		for _, err := range s.ReadAll(ctx, eventstore.Position{}, eventstore.MaxCount(5)) {
			if !assert.NoError(t, err) {
				return
			}
			_, err := s.AppendToStream(ctx, "loop-3", data(1))
			assert.NoError(t, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("appending inside a read loop deadlocked")
	}
	v, _, err := s.StreamVersion(ctx, "loop-3")
	require.NoError(t, err)
	assert.Equal(t, int64(5), v)
}
