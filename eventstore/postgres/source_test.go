package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeadAndCount checks the log's head and counts: Head is the last
// event ReadAll returns now, never past an event a transaction still open
// may precede.
func TestHeadAndCount(t *testing.T) {
	// Not in parallel: it holds a transaction open, and reads without waiting for those of other tests. The server's oldest open
	// transaction bounds what ReadAll returns in every database, so the
	// tests that read the log (the processors' sources among them) would
	// wait on it; the tests that are not parallel run before those that are.
	ctx := context.Background()
	s, db := openStore(t)
	admin := adminPool(t, db)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.True(t, head.IsZero(), "an empty log")

	first, err := s.AppendToStream(ctx, "a-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}, {Type: "B", Data: []byte(`{}`)}})
	require.NoError(t, err)
	head, err = s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.Position, head)

	// A transaction that took an id before the next append hides it until
	// it ends.
	open, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = open.Exec(ctx, "SELECT pg_current_xact_id()")
	require.NoError(t, err)
	late, err := s.AppendToStream(ctx, "a-2", []eventstore.EventData{{Type: "C", Data: []byte(`{}`)}})
	require.NoError(t, err)
	impatient, err := postgres.Open(ctx, db, postgres.WithReadAllWait(0))
	require.NoError(t, err)
	defer impatient.Close()
	head, err = impatient.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.Position, head, "not past what ReadAll can return")
	require.NoError(t, open.Rollback(ctx))
	head, err = impatient.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, late.Position, head)

	n, err := s.Count(ctx, eventstore.Position{}, head)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	n, err = s.Count(ctx, eventstore.PositionOf(first.Events[0]), first.Position)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// A partition's source has the partition's head and counts.
	require.NoError(t, s.AddPartition(ctx, "tenant-a"))
	inA, err := s.AppendToStream(ctx, "a-3", []eventstore.EventData{{Type: "D", Data: []byte(`{}`)}}, eventstore.InPartition("tenant-a"))
	require.NoError(t, err)
	_, err = s.AppendToStream(ctx, "a-4", []eventstore.EventData{{Type: "E", Data: []byte(`{}`)}})
	require.NoError(t, err)
	src := s.Source(projection.PollPartition("tenant-a"))
	head, err = src.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, inA.Position, head)
	n, err = src.(projection.Counter).Count(ctx, eventstore.Position{}, head)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

// TestSourceWokenAcrossProcesses checks WithListen: a source whose
// interval is long is woken by the NOTIFY of another store's append (as
// another process's), not only by its own store's.
func TestSourceWokenAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reader, db := openStore(t, postgres.WithListen())
	writer, err := postgres.Open(ctx, db, postgres.WithNotify())
	require.NoError(t, err)
	defer writer.Close()

	src := reader.Source(projection.PollInterval(time.Minute))
	var mu sync.Mutex
	var seen []emmett.RecordedEvent
	got := make(chan struct{}, 10)
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- src.Subscribe(subCtx, eventstore.Position{}, func(_ context.Context, b projection.Batch) error {
			mu.Lock()
			seen = append(seen, b.Events...)
			mu.Unlock()
			got <- struct{}{}
			return nil
		})
	}()
	// The reader's store listens (a NOTIFY before its LISTEN would be
	// lost, and the source wait its minute).
	admin := adminPool(t, db)
	require.Eventually(t, func() bool {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN emt_messages'`).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 5*time.Millisecond, "the reader's store listens")
	for i := range 2 {
		_, err = writer.AppendToStream(ctx, "remote-1", []eventstore.EventData{{Type: "A", Data: []byte(`{}`)}})
		require.NoError(t, err)
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("append %d through another store did not wake the source", i)
		}
	}
	mu.Lock()
	assert.Len(t, seen, 2)
	mu.Unlock()
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, reader.Close(), "Close stops the listener")
}
