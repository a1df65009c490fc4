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
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPollerSeesEveryEventOnce has 8 writers hold their transactions open
// for random times, so that transactions commit in another order than they
// took their global positions, some rolling back, while a poller follows the
// log: the poller yields every committed event exactly once, in position
// order, and none of the rolled back ones.
func TestPollerSeesEveryEventOnce(t *testing.T) {
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
		for e, err := range s.Poll(pollCtx, eventstore.Position{}, postgres.PollOptions{BatchSize: 7, MaxWait: 20 * time.Millisecond}) {
			if err != nil {
				if errors.Is(err, context.Canceled) {
					pollDone <- nil
					return
				}
				pollDone <- err
				return
			}
			seen <- e
		}
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
			t.Fatalf("the poller saw %d of %d events", len(got), len(committed))
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
	t.Logf("%d events committed by %d writers, %d rolled back; the poller saw each once; a reader ordering by global position alone missed %d",
		len(committed), writers, len(rolledBack), missed)
}

// TestPollWakesUp: a poller waiting long is woken by an append through the
// same store, and (with Listen) by a NOTIFY from another process's store.
func TestPollWakesUp(t *testing.T) {
	s, db := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slow := postgres.PollOptions{MinWait: time.Minute, MaxWait: time.Minute}

	t.Run("SameStore", func(t *testing.T) {
		res, err := s.AppendToStream(ctx, "wake-1", oneEvent("First"))
		require.NoError(t, err)
		start := res.Position
		events := make(chan emmett.RecordedEvent, 1)
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			for e, err := range s.Poll(pctx, start, slow) {
				if err != nil {
					return
				}
				events <- e
			}
		}()
		time.Sleep(100 * time.Millisecond) // the poller found nothing and sleeps
		appended := time.Now()
		_, err = s.AppendToStream(ctx, "wake-1", oneEvent("Second"))
		require.NoError(t, err)
		select {
		case e := <-events:
			assert.Equal(t, "Second", e.Type)
			assert.Less(t, time.Since(appended), 5*time.Second)
		case <-time.After(10 * time.Second):
			t.Fatal("the poller was not woken")
		}
	})

	t.Run("Listen", func(t *testing.T) {
		writer, err := postgres.Open(ctx, db, postgres.WithNotify())
		require.NoError(t, err)
		defer func() { _ = writer.Close() }()
		res, err := writer.AppendToStream(ctx, "wake-2", oneEvent("First"))
		require.NoError(t, err)
		events := make(chan emmett.RecordedEvent, 1)
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		listen := slow
		listen.Listen = true
		go func() {
			for e, err := range s.Poll(pctx, res.Position, listen) {
				if err != nil {
					return
				}
				events <- e
			}
		}()
		time.Sleep(300 * time.Millisecond) // listening, and asleep
		_, err = writer.AppendToStream(ctx, "wake-2", oneEvent("Second"))
		require.NoError(t, err)
		select {
		case e := <-events:
			assert.Equal(t, "Second", e.Type)
		case <-time.After(10 * time.Second):
			t.Fatal("the poller was not woken by the notification")
		}
	})
}

// TestPollResumesAfterError: a database error is yielded, and the poller goes
// on from where it was when the loop continues.
func TestPollResumesAfterError(t *testing.T) {
	s, db := openStore(t)
	admin := adminPool(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.AppendToStream(ctx, "resume-1", oneEvent("First"))
	require.NoError(t, err)

	var types []string
	errs := 0
	opts := postgres.PollOptions{MinWait: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond}
	for e, err := range s.Poll(ctx, eventstore.Position{}, opts) {
		if err != nil {
			errs++
			require.Less(t, errs, 100, "errors go on: %v", err)
			// Put the table back: the next poll works again.
			_, rerr := admin.Exec(ctx, "ALTER TABLE emt_messages_broken RENAME TO emt_messages")
			require.NoError(t, rerr)
			continue
		}
		types = append(types, e.Type)
		if len(types) == 1 {
			// Break the next poll: no table to read.
			_, err := admin.Exec(ctx, "ALTER TABLE emt_messages RENAME TO emt_messages_broken")
			require.NoError(t, err)
			go func() {
				time.Sleep(50 * time.Millisecond)
				_, _ = s.AppendToStream(ctx, "resume-1", oneEvent("Second"))
			}()
		}
		if len(types) == 2 {
			break
		}
	}
	assert.Equal(t, []string{"First", "Second"}, types)
	assert.Positive(t, errs)
}
