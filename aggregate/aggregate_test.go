package aggregate_test

import (
	"context"
	"testing"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Event interface{ isEvent() }
type Added struct{ N int }
type Reset struct{}

func (Added) isEvent() {}
func (Reset) isEvent() {}

var events = emmett.NewEvents[Event](Added{}, Reset{})

func evolve(sum int, e Event) int {
	switch e := e.(type) {
	case Added:
		return sum + e.N
	case Reset:
		return 0
	}
	return sum
}

func initial() int { return 0 }

func appendEvents(t *testing.T, s eventstore.Store, stream string, evs ...Event) {
	t.Helper()
	data, err := eventstore.Encode(events, evs, emmett.Metadata{})
	require.NoError(t, err)
	_, err = s.AppendToStream(context.Background(), stream, data)
	require.NoError(t, err)
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	appendEvents(t, s, "sum-1", Added{1}, Added{2}, Reset{}, Added{5})

	got, err := aggregate.Load(ctx, s, events, "sum-1", evolve, initial)
	require.NoError(t, err)
	assert.Equal(t, aggregate.State[int]{State: 5, Version: 4, Exists: true}, got)

	t.Run("Missing", func(t *testing.T) {
		got, err := aggregate.Load(ctx, s, events, "sum-2", evolve, initial)
		require.NoError(t, err)
		assert.Equal(t, aggregate.State[int]{State: 0, Version: 0, Exists: false}, got)
	})
	t.Run("UpToAVersion", func(t *testing.T) {
		got, err := aggregate.Load(ctx, s, events, "sum-1", evolve, initial, aggregate.WithReadOptions(eventstore.ToVersion(2)))
		require.NoError(t, err)
		assert.Equal(t, aggregate.State[int]{State: 3, Version: 2, Exists: true}, got)
	})
}

func TestLoadUnknownEvent(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	appendEvents(t, s, "sum-1", Added{1})
	_, err := s.AppendToStream(ctx, "sum-1", []eventstore.EventData{{Type: "Multiplied", Data: []byte(`{"by":3}`)}})
	require.NoError(t, err)
	appendEvents(t, s, "sum-1", Added{2})

	_, err = aggregate.Load(ctx, s, events, "sum-1", evolve, initial)
	require.ErrorIs(t, err, emmett.ErrUnknownEventType)
	var loadErr *aggregate.LoadError
	require.ErrorAs(t, err, &loadErr)
	assert.Equal(t, int64(2), loadErr.Position)
	assert.Contains(t, err.Error(), "Multiplied")

	got, err := aggregate.Load(ctx, s, events, "sum-1", evolve, initial, aggregate.SkipUnknownEvents())
	require.NoError(t, err)
	assert.Equal(t, aggregate.State[int]{State: 3, Version: 3, Exists: true}, got, "skipped events still count in the version")
}

func TestLoadMalformedEvent(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	_, err := s.AppendToStream(ctx, "sum-1", []eventstore.EventData{{Type: "Added", Data: []byte(`{"N":"three"}`)}})
	require.NoError(t, err)
	_, err = aggregate.Load(ctx, s, events, "sum-1", evolve, initial, aggregate.SkipUnknownEvents())
	require.ErrorIs(t, err, emmett.ErrMalformedEvent, "malformed data is never skipped")
}

func TestLoadCancelled(t *testing.T) {
	s := memory.New()
	appendEvents(t, s, "sum-1", Added{1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := aggregate.Load(ctx, s, events, "sum-1", evolve, initial)
	require.ErrorIs(t, err, context.Canceled)
}

func TestLoadFrom(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	appendEvents(t, s, "sum-1", Added{1}, Added{2})
	before, err := aggregate.Load(ctx, s, events, "sum-1", evolve, initial)
	require.NoError(t, err)

	same, err := aggregate.LoadFrom(ctx, s, events, "sum-1", evolve, before)
	require.NoError(t, err)
	assert.Equal(t, before, same, "nothing new: the state as it was")

	appendEvents(t, s, "sum-1", Added{10}, Reset{}, Added{7})
	got, err := aggregate.LoadFrom(ctx, s, events, "sum-1", evolve, before)
	require.NoError(t, err)
	whole, err := aggregate.Load(ctx, s, events, "sum-1", evolve, initial)
	require.NoError(t, err)
	assert.Equal(t, aggregate.State[int]{State: 7, Version: 5, Exists: true}, got)
	assert.Equal(t, whole, got, "the same as replaying the whole stream")

	// Only the events after the state's version are folded in: a state
	// that claims version 4 gets the fifth event alone.
	got, err = aggregate.LoadFrom(ctx, s, events, "sum-1", evolve, aggregate.State[int]{State: 100, Version: 4, Exists: true})
	require.NoError(t, err)
	assert.Equal(t, aggregate.State[int]{State: 107, Version: 5, Exists: true}, got)

	fresh, err := aggregate.LoadFrom(ctx, s, events, "sum-2", evolve, aggregate.State[int]{})
	require.NoError(t, err)
	assert.Equal(t, aggregate.State[int]{}, fresh, "from the zero state, a missing stream stays missing")
}
