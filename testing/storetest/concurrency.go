package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testConcurrency(t *testing.T, cfg Config) {
	t.Run("OneWinnerPerVersion", func(t *testing.T) { testOneWinnerPerVersion(t, cfg) })
	t.Run("NoEventLostOrDuplicated", func(t *testing.T) { testNoEventLost(t, cfg) })
}

// testOneWinnerPerVersion starts every writer at once against the same
// expected version, round after round: exactly one wins each round and the
// others get a conflict naming the winner's version.
func testOneWinnerPerVersion(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "race")
	writers := cfg.writers()
	const rounds = 5
	for round := int64(0); round < rounds; round++ {
		start := make(chan struct{})
		type outcome struct {
			res eventstore.AppendResult
			err error
		}
		results := make([]outcome, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				data := eventstore.EventData{Type: "Raced", Data: fmt.Appendf(nil, `{"round":%d,"writer":%d}`, round, w)}
				res, err := s.AppendToStream(ctx, stream, []eventstore.EventData{data}, eventstore.ExpectVersion(round))
				results[w] = outcome{res, err}
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for _, r := range results {
			if r.err == nil {
				winners++
				assert.Equal(t, round+1, r.res.NextExpectedVersion)
				continue
			}
			var conflict *eventstore.VersionConflictError
			if assert.ErrorAs(t, r.err, &conflict, "a loser gets a version conflict") {
				assert.Equal(t, round+1, conflict.Actual, "the conflict reports the winner's version")
			}
		}
		require.Equal(t, 1, winners, "round %d has exactly one winner", round)
	}
	read := collect(t, s.ReadStream(ctx, stream))
	require.Len(t, read, rounds)
	for i, e := range read {
		assert.Equal(t, int64(i+1), e.StreamPosition)
	}
}

// testNoEventLost has every writer append its own events to one stream with
// exact expected versions, retrying conflicts: the stream ends with each
// event once, versions gapless, and each writer's events in its order.
func testNoEventLost(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "contended")
	writers := cfg.writers()
	const perWriter = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter; {
				v, _, err := s.StreamVersion(ctx, stream)
				if err != nil {
					errs <- err
					return
				}
				data := eventstore.EventData{Type: "Contended", Data: fmt.Appendf(nil, `{"writer":%d,"i":%d}`, w, i)}
				_, err = s.AppendToStream(ctx, stream, []eventstore.EventData{data}, eventstore.ExpectVersion(v))
				switch {
				case err == nil:
					i++
				case errors.Is(err, eventstore.ErrVersionConflict):
				default:
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	read := collect(t, s.ReadStream(ctx, stream))
	require.Len(t, read, writers*perWriter, "no event lost or duplicated")
	next := make([]int, writers)
	ids := map[string]bool{}
	for i, e := range read {
		assert.Equal(t, int64(i+1), e.StreamPosition, "versions are gapless")
		assert.False(t, ids[e.MessageID], "message %s appears once", e.MessageID)
		ids[e.MessageID] = true
		var w, n int
		_, err := fmt.Sscanf(compactJSON(e.Data), `{"i":%d,"writer":%d}`, &n, &w)
		require.NoError(t, err, "data %s", e.Data)
		assert.Equal(t, next[w], n, "writer %d's events are in its order", w)
		next[w] = n + 1
		if i > 0 {
			assert.True(t, eventstore.PositionOf(read[i-1]).Compare(eventstore.PositionOf(e)) != 0)
		}
	}
	for w, n := range next {
		assert.Equal(t, perWriter, n, "writer %d's events all stored", w)
	}
	requireVersion(t, ctx, s, stream, int64(writers*perWriter))
}

// boundedFrom is the length of stream from which the large stream case
// checks that a read holds a bounded part of it: a quarter of the stream,
// 12,500 events at 50,000, a dozen of the stores' 1,000-event pages. A
// reader holding a page or two passes (PostgreSQL's, with its connection's
// buffers, grew by up to 1.4 MiB here, against a bound of 2.7 MiB), while
// one that loads the stream whole holds four times the bound. (It read
// 100,000 events, which proved no more in twice the time; at 20,000 the
// bound, 1.1 MiB, is below what PostgreSQL's reader holds.)
const boundedFrom = 50_000

func testLargeStream(t *testing.T, cfg Config) {
	ctx := context.Background()
	s := cfg.New(t)
	stream := streamName(t, "large")
	total := cfg.largeStreamEvents()
	const batch = 1000
	for from := 0; from < total; from += batch {
		n := min(batch, total-from)
		_, err := s.AppendToStream(ctx, stream, events("Large", from+1, n), eventstore.ExpectVersion(int64(from)))
		require.NoError(t, err)
	}
	// The heap a read may grow by, halfway through: a quarter of what
	// holding every event would take (checked on streams long enough for
	// a reader's pages to be a small part of them).
	bounded := total >= boundedFrom
	var limit, base int64
	if bounded {
		limit = heapPerEvent(t, ctx, s, stream) * int64(total) / 4
		base = heapAlloc()
	}
	var count int64
	for e, err := range s.ReadStream(ctx, stream) {
		require.NoError(t, err)
		count++
		if e.StreamPosition != count {
			require.Equal(t, count, e.StreamPosition, "events come in stream order")
		}
		if bounded && count == int64(total/2) {
			grown := heapAlloc() - base
			t.Logf("halfway through %d events, the heap grew by %d KiB (limit %d KiB)", total, grown>>10, limit>>10)
			assert.Less(t, grown, limit, "a long stream is read in bounded memory, not loaded whole")
		}
	}
	assert.Equal(t, int64(total), count)
	requireVersion(t, ctx, s, stream, int64(total))

	tail := collect(t, s.ReadStream(ctx, stream, eventstore.FromVersion(int64(total-2))))
	assert.Len(t, tail, 3)
}

// heapAlloc returns the bytes of live heap objects, after a collection.
func heapAlloc() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// heapPerEvent measures the heap that holding one of the stream's events
// takes, from holding its first thousand.
func heapPerEvent(t *testing.T, ctx context.Context, s eventstore.Store, stream string) int64 {
	t.Helper()
	const n = 1000
	before := heapAlloc()
	held := collect(t, s.ReadStream(ctx, stream, eventstore.MaxCount(n)))
	require.Len(t, held, n)
	per := (heapAlloc() - before) / n
	runtime.KeepAlive(held)
	require.Positive(t, per)
	return per
}
