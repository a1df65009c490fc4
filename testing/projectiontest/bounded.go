package projectiontest

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireStoredCheckpointAt requires the processor's stored checkpoint to
// be at or after target.
func requireStoredCheckpointAt(t *testing.T, b Backend, p *projection.Processor, target eventstore.Position) {
	t.Helper()
	cp, found, err := b.Processors().ReadCheckpoint(background(t), p.ID())
	require.NoError(t, err)
	require.True(t, found, "the checkpoint is stored")
	assert.GreaterOrEqual(t, cp.Compare(target), 0, "the checkpoint %s reached %s", cp, target)
}

func testBoundedRuns(t *testing.T, cfg Config) {
	t.Run("CatchUpReturnsOnceCaughtUp", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		appendMany(t, b, "counter", 60, 6)
		src := cfg.Source(b)
		p := projection.NewProjectionProcessor(b.Processors(), src, Counters("counters"))
		require.NoError(t, p.CatchUp(background(t)))
		RequireCountersMatchReplay(t, b, "counters")
		_, running := p.Checkpoint()
		assert.False(t, running, "it released the processor")

		// Again, after more appends: it resumes from its checkpoint.
		appendMany(t, b, "counter", 25, 4)
		head, err := src.Head(background(t))
		require.NoError(t, err)
		require.NoError(t, p.CatchUp(background(t)))
		requireStoredCheckpointAt(t, b, p, head)
		RequireCountersMatchReplay(t, b, "counters")

		// Another instance takes the processor over at once.
		other := projection.NewProjectionProcessor(b.Processors(), src, Counters("counters"))
		start(t, other)
		waitFor(t, other, Append(t, b, "counter-1", Incremented{By: 1}).Position)
		RequireCountersMatchReplay(t, b, "counters")
	})

	t.Run("CatchUpOnAnEmptyLog", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"))
		ctx, cancel := context.WithTimeout(background(t), waitLimit)
		defer cancel()
		require.NoError(t, p.CatchUp(ctx))
		n, err := Counters("counters").Collection(b.Documents()).Count(background(t))
		require.NoError(t, err)
		assert.Zero(t, n)
	})

	t.Run("RunUntilAPosition", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		first := appendMany(t, b, "counter", 20, 2)
		src := cfg.Source(b)
		// The source's position of the append (logical replication's is a
		// WAL position; RunUntil asks for it too, after).
		target, err := src.Target(background(t), first)
		require.NoError(t, err)
		p := projection.NewProjectionProcessor(b.Processors(), src, Counters("counters"))
		ctx, cancel := context.WithTimeout(background(t), waitLimit)
		defer cancel()
		require.NoError(t, p.RunUntil(ctx, first))
		requireStoredCheckpointAt(t, b, p, target)
		RequireCountersMatchReplay(t, b, "counters")
		_, running := p.Checkpoint()
		assert.False(t, running, "it released the processor")

		// Again, up to a later append.
		require.NoError(t, p.RunUntil(ctx, appendMany(t, b, "counter", 15, 3)))
		RequireCountersMatchReplay(t, b, "counters")
	})

	t.Run("RunUntilEndsWithTheContext", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		last := appendMany(t, b, "counter", 5, 1)
		// Another instance holds the processor: RunUntil waits for it.
		holder := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"))
		start(t, holder)
		waitFor(t, holder, last)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"))
		ctx, cancel := context.WithTimeout(background(t), 100*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, p.RunUntil(ctx, last), context.DeadlineExceeded)
		assert.Error(t, holder.CatchUp(background(t)), "a bounded run while Run runs in the same instance is refused")
	})

	t.Run("RunUntilStopsAtAFailure", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		Append(t, b, "counter-1", Incremented{By: 1})
		_, _, after := appendPoisoned(t, b, "counter-1")
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Failing("marks", 0),
			projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}))
		var perr *projection.ProcessorError
		require.ErrorAs(t, p.RunUntil(background(t), eventstore.PositionOf(after)), &perr)
		assert.ErrorIs(t, perr, errPoisoned)
	})

	t.Run("StartFromTime", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		appendMany(t, b, "old", 10, 2)
		time.Sleep(20 * time.Millisecond)
		from := time.Now()
		time.Sleep(20 * time.Millisecond)
		Append(t, b, "new-1", Incremented{By: 7})
		Append(t, b, "new-2", Incremented{By: 1}, Incremented{By: 2})
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"), projection.StartFromTime(from))
		require.NoError(t, p.CatchUp(background(t)))
		docs := allDocuments[Counter](t, b.Documents(), "counters")
		assert.Equal(t, map[string]Counter{
			"new-1": {Total: 7, Count: 1, Active: true},
			"new-2": {Total: 3, Count: 2, Active: true},
		}, docs, "the events stored before the time are skipped, those after it are not")
	})

	t.Run("StartFromTimeAfterEveryEvent", func(t *testing.T) {
		t.Parallel()
		b := cfg.New(t)
		before := appendMany(t, b, "old", 10, 2)
		p := projection.NewProjectionProcessor(b.Processors(), cfg.Source(b), Counters("counters"),
			projection.StartFromTime(time.Now().Add(time.Hour)))
		start(t, p)
		require.Eventually(t, func() bool { cp, ok := p.Checkpoint(); return ok && cp.Compare(before) >= 0 }, waitLimit, 5*time.Millisecond)
		waitFor(t, p, Append(t, b, "new-1", Incremented{By: 7}).Position)
		docs := allDocuments[Counter](t, b.Documents(), "counters")
		assert.Equal(t, map[string]Counter{"new-1": {Total: 7, Count: 1, Active: true}}, docs,
			"it starts at the end, and goes on with what comes next")
	})
}
