package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// An append with any expected version inserts the stream row unless it
// exists and moves it on otherwise, on the statement's snapshot: a stream
// created by a transaction that commits while the append waits on its row
// is seen by the insert and not by the update. The append then runs its
// upsert, and lands after the other transaction's events, as with one
// upsert.
func TestAppendAnyToAStreamCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	for _, appender := range []string{"Store", "Tx"} {
		t.Run(appender, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, db := openStore(t)
			pool := adminPool(t, db)
			for _, events := range []int{1, 3} {
				stream := "created-meanwhile-" + appender + "-" + string(rune('0'+events))
				batch := make([]eventstore.EventData, events)
				for i := range batch {
					batch[i] = eventstore.EventData{Type: "Added", Data: []byte(`{"n":1}`)}
				}

				// The stream's creator holds its transaction open.
				creator, err := pool.Begin(ctx)
				require.NoError(t, err)
				_, err = s.AppendToStreamTx(ctx, creator, stream, batch[:1], eventstore.ExpectNoStream())
				require.NoError(t, err)

				type result struct {
					res eventstore.AppendResult
					err error
				}
				done := make(chan result, 1)
				go func() {
					var r result
					if appender == "Tx" {
						r.err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
							var err error
							r.res, err = s.AppendToStreamTx(ctx, tx, stream, batch)
							return err
						})
					} else {
						r.res, r.err = s.AppendToStream(ctx, stream, batch)
					}
					done <- r
				}()
				waitForLockWait(t, ctx, pool)
				require.NoError(t, creator.Commit(ctx))

				r := <-done
				require.NoError(t, r.err)
				require.Equal(t, int64(1+events), r.res.NextExpectedVersion)
				require.False(t, r.res.Created)
				require.Len(t, r.res.Events, events)
				for i, e := range r.res.Events {
					require.Equal(t, int64(2+i), e.StreamPosition)
				}
				var read []int64
				for e, err := range s.ReadStream(ctx, stream) {
					require.NoError(t, err)
					read = append(read, e.StreamPosition)
				}
				require.Len(t, read, 1+events)
				for i, p := range read {
					require.Equal(t, int64(i+1), p)
				}
				v, _, err := s.StreamVersion(ctx, stream)
				require.NoError(t, err)
				require.Equal(t, int64(1+events), v)
			}
		})
	}
}

// waitForLockWait waits until a session of the database waits for a lock
// (the append, on the creator's uncommitted stream row).
func waitForLockWait(t *testing.T, ctx context.Context, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) {
	t.Helper()
	for {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
		require.NoError(t, err)
		if waiting {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no append waits on the stream row")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
