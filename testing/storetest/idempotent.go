package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testIdempotentAppends checks that an append repeated with the same
// message ids returns the first one's result instead of storing the events
// again, that a partial overlap is refused, and that 8 writers retrying
// one append at once leave exactly one copy.
func testIdempotentAppends(t *testing.T, cfg Config) {
	ctx := context.Background()
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = uuid.NewString()
		}
		return out
	}
	events := func(ids []string) []eventstore.EventData {
		out := make([]eventstore.EventData, len(ids))
		for i, id := range ids {
			out[i] = eventstore.EventData{MessageID: id, Type: "Added", Data: []byte(`{"n":1}`)}
		}
		return out
	}

	t.Run("RepeatReturnsTheFirstResult", func(t *testing.T) {
		s := cfg.New(t)
		stream := streamName(t, "idem")
		_, err := s.AppendToStream(ctx, stream, events(ids(2)))
		require.NoError(t, err)
		batch := events(ids(3))
		first, err := s.AppendToStream(ctx, stream, batch, eventstore.ExpectVersion(2))
		require.NoError(t, err)
		assert.False(t, first.Duplicate)
		for _, opt := range []eventstore.AppendOption{eventstore.ExpectVersion(2), eventstore.ExpectAny(), eventstore.ExpectStreamExists()} {
			again, err := s.AppendToStream(ctx, stream, batch, opt)
			require.NoError(t, err, "a retry (%v) gets the first result", opt)
			assert.True(t, again.Duplicate)
			assert.Equal(t, first.NextExpectedVersion, again.NextExpectedVersion)
			assert.Equal(t, first.Position, again.Position)
			assert.False(t, again.Created)
			require.Len(t, again.Events, 3)
			for i, e := range again.Events {
				assert.Equal(t, first.Events[i].MessageID, e.MessageID)
				assert.Equal(t, first.Events[i].StreamPosition, e.StreamPosition)
			}
		}
		assert.Len(t, collect(t, s.ReadStream(ctx, stream)), 5, "stored once")

		// The first append of a stream, repeated, says it created it.
		fresh := streamName(t, "idem-new")
		batch = events(ids(1))
		_, err = s.AppendToStream(ctx, fresh, batch, eventstore.ExpectNoStream())
		require.NoError(t, err)
		again, err := s.AppendToStream(ctx, fresh, batch, eventstore.ExpectNoStream())
		require.NoError(t, err)
		assert.True(t, again.Duplicate)
		assert.True(t, again.Created)
	})

	t.Run("RepeatUnderAnIdempotencyKey", func(t *testing.T) {
		// The key derives the message ids: events without ids, repeated
		// under the same key, with any expected version.
		s := cfg.New(t)
		stream := streamName(t, "idem-key")
		_, err := s.AppendToStream(ctx, stream, events(ids(1)))
		require.NoError(t, err)
		batch := []eventstore.EventData{{Type: "Added", Data: []byte(`{"n":1}`)}, {Type: "Added", Data: []byte(`{"n":2}`)}}
		key := eventstore.WithIdempotencyKey("request-" + uuid.NewString())
		first, err := s.AppendToStream(ctx, stream, batch, key)
		require.NoError(t, err)
		assert.False(t, first.Duplicate)
		for _, opt := range []eventstore.AppendOption{eventstore.ExpectAny(), eventstore.ExpectVersion(1), eventstore.ExpectStreamExists()} {
			again, err := s.AppendToStream(ctx, stream, batch, key, opt)
			require.NoError(t, err, "a retry under the key (%v) gets the first result", opt)
			assert.True(t, again.Duplicate)
			assert.Equal(t, first.Position, again.Position)
			assert.Equal(t, first.NextExpectedVersion, again.NextExpectedVersion)
		}
		assert.Len(t, collect(t, s.ReadStream(ctx, stream)), 3, "stored once")
	})

	t.Run("PartialOverlapIsRefused", func(t *testing.T) {
		s := cfg.New(t)
		stream := streamName(t, "idem")
		stored := ids(2)
		_, err := s.AppendToStream(ctx, stream, events(stored))
		require.NoError(t, err)
		for _, bad := range [][]string{
			{stored[0], uuid.NewString()},                 // one of them, and a new one
			{stored[1], stored[0]},                        // in another order
			append([]string{uuid.NewString()}, stored...), // more
		} {
			_, err := s.AppendToStream(ctx, stream, events(bad))
			require.ErrorIs(t, err, eventstore.ErrDuplicateMismatch, "%v", bad)
		}
		mixed := events(stored)
		mixed[1].Type = "Removed"
		_, err = s.AppendToStream(ctx, stream, mixed)
		require.ErrorIs(t, err, eventstore.ErrDuplicateMismatch, "the same ids as other types")
		assert.Len(t, collect(t, s.ReadStream(ctx, stream)), 2, "nothing stored")

		// A part of an append, repeated, is stored already: its result.
		part, err := s.AppendToStream(ctx, stream, events(stored[1:]))
		require.NoError(t, err)
		assert.True(t, part.Duplicate)
		assert.Equal(t, int64(2), part.NextExpectedVersion)

		_, err = s.AppendToStream(ctx, stream, events([]string{stored[0], stored[0]}))
		require.ErrorIs(t, err, eventstore.ErrInvalidEvent, "an id given twice in one append")
	})

	t.Run("ConcurrentRetriesLeaveOneCopy", func(t *testing.T) {
		s := cfg.New(t)
		stream := streamName(t, "idem")
		batch := events(ids(4))
		const writers = 8
		start := make(chan struct{})
		results := make([]eventstore.AppendResult, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				results[w], errs[w] = s.AppendToStream(ctx, stream, batch)
			})
		}
		close(start)
		wg.Wait()
		originals := 0
		for w := range writers {
			require.NoError(t, errs[w], "writer %d", w)
			if !results[w].Duplicate {
				originals++
			}
			assert.Equal(t, int64(4), results[w].NextExpectedVersion)
			assert.Equal(t, results[0].Position, results[w].Position, "every writer gets the same result")
		}
		assert.Equal(t, 1, originals, "one append stored the events")
		assert.Len(t, collect(t, s.ReadStream(ctx, stream)), 4, "exactly one copy")
	})
}
