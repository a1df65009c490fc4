package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSourceSeesEveryEventOnce has 8 writers hold their transactions open
// for random times, so that transactions commit in another order than they
// took their global positions, some rolling back, while the store's polling
// source follows the log: it delivers every committed event exactly once,
// in position order, and none of the rolled back ones.
func TestSourceSeesEveryEventOnce(t *testing.T) {
	t.Parallel()
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const writers, perWriter = 8, 25
	var mu sync.Mutex
	committed := map[string]bool{}  // message id -> committed
	rolledBack := map[string]bool{} // message id -> rolled back

	// A naive reader, ordering by global position alone (as Node 0.42's
	// cursor does), for comparison.
	var naiveSeen sync.Map
	naiveDone := make(chan struct{})
	go func() {
		defer close(naiveDone)
		var last int64
		for ctx.Err() == nil {
			rows, err := admin.Query(ctx, `SELECT global_position, message_id FROM emt_messages
WHERE global_position > $1 ORDER BY global_position LIMIT 100`, last)
			if err != nil {
				return
			}
			for rows.Next() {
				var gp int64
				var id string
				if rows.Scan(&gp, &id) == nil {
					naiveSeen.Store(id, true)
					last = gp
				}
			}
			rows.Close()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	seen := make(chan emmett.RecordedEvent, writers*perWriter*3)
	pollCtx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan error, 1)
	go func() {
		src := s.Source(projection.PollBatchSize(7), projection.PollInterval(20*time.Millisecond))
		err := src.Subscribe(pollCtx, eventstore.Position{}, func(_ context.Context, b projection.Batch) error {
			for _, e := range b.Events {
				seen <- e
			}
			return nil
		})
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		pollDone <- err
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 42))
			stream := fmt.Sprintf("writer-%d", w)
			for i := range perWriter {
				tx, err := s.Pool().Begin(ctx)
				if !assert.NoError(t, err) {
					return
				}
				n := 1 + rnd.IntN(3)
				events := make([]eventstore.EventData, n)
				for j := range events {
					events[j] = eventstore.EventData{Type: "Written", Data: fmt.Appendf(nil, `{"w":%d,"i":%d,"j":%d}`, w, i, j)}
				}
				res, err := s.AppendToStreamTx(ctx, tx, stream, events)
				if !assert.NoError(t, err) {
					_ = tx.Rollback(ctx)
					return
				}
				// Hold the transaction open: its global positions are
				// taken, others commit meanwhile.
				time.Sleep(time.Duration(rnd.IntN(40)) * time.Millisecond)
				rollback := rnd.IntN(10) == 0
				if rollback {
					err = tx.Rollback(ctx)
				} else {
					err = tx.Commit(ctx)
				}
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				for _, e := range res.Events {
					if rollback {
						rolledBack[e.MessageID] = true
					} else {
						committed[e.MessageID] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	got := map[string]int{}
	var order []eventstore.Position
	timeout := time.After(time.Minute)
	for len(got) < len(committed) {
		select {
		case e := <-seen:
			got[e.MessageID]++
			order = append(order, eventstore.PositionOf(e))
		case <-timeout:
			t.Fatalf("the source delivered %d of %d events", len(got), len(committed))
		}
	}
	// Give a duplicate or a rolled back event the time to show up.
	time.Sleep(200 * time.Millisecond)
	stopPoll()
	require.NoError(t, <-pollDone)
	close(seen)
	for e := range seen {
		got[e.MessageID]++
		order = append(order, eventstore.PositionOf(e))
	}

	for id := range committed {
		assert.Equal(t, 1, got[id], "committed event %s seen once", id)
	}
	for id := range rolledBack {
		assert.Zero(t, got[id], "rolled back event %s never seen", id)
	}
	assert.Len(t, got, len(committed))
	for i := 1; i < len(order); i++ {
		require.True(t, order[i-1].Before(order[i]), "events in position order: %v then %v", order[i-1], order[i])
	}
	cancel()
	<-naiveDone
	missed := 0
	for id := range committed {
		if _, ok := naiveSeen.Load(id); !ok {
			missed++
		}
	}
	t.Logf("%d events committed by %d writers, %d rolled back; the source delivered each once; a reader ordering by global position alone missed %d",
		len(committed), writers, len(rolledBack), missed)
}
