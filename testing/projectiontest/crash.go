package projectiontest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The helpers of the backends' crash tests of parked events: a child
// process runs a processor that parks (projection.ParkOnFailure) the
// Poisoned events of a backlog, the test kills it in the middle of a batch,
// and requires the parked events and the checkpoint to have been stored
// together, or neither.

// AppendPoisonedBacklog appends n events to s: Incremented events over
// streams streams, a few per append, and every every-th event a Poisoned
// one, alone in its append. It returns the Poisoned events, in log order.
func AppendPoisonedBacklog(t testing.TB, s eventstore.Store, n, streams, every int) []emmett.RecordedEvent {
	t.Helper()
	var poisoned []emmett.RecordedEvent
	for i := 0; i < n; {
		if i%every == every-1 {
			poisoned = append(poisoned, Append(t, s, fmt.Sprintf("counter-%d", i%streams), Poisoned{}).Events[0])
			i++
			continue
		}
		k := min(1+i%3, n-i, every-1-i%every)
		evs := make([]Event, k)
		for j := range evs {
			evs[j] = Incremented{By: 1 + (i+j)%7, Group: fmt.Sprint("g", (i+j)%3)}
		}
		Append(t, s, fmt.Sprintf("counter-%d", i%streams), evs...)
		i += k
	}
	return poisoned
}

// RequireParkedWithCheckpoint requires the parked events of the processor
// to be exactly those of poisoned that its stored checkpoint is past: each
// is parked in the transaction that moves the checkpoint past it, so both
// are stored or neither. It returns how many are parked.
func RequireParkedWithCheckpoint(t testing.TB, b Backend, processorID string, poisoned []emmett.RecordedEvent) int {
	t.Helper()
	ctx := context.Background()
	cp, _, err := b.Processors().ReadCheckpoint(ctx, processorID)
	require.NoError(t, err)
	parked, err := b.Processors().Parked(ctx, projection.ParkedFilter{Processor: processorID})
	require.NoError(t, err)
	var got, want []string
	for _, e := range parked {
		got = append(got, e.Event.MessageID)
	}
	for _, e := range poisoned {
		if !cp.Before(eventstore.PositionOf(e)) {
			want = append(want, e.MessageID)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got, "the events parked are those the checkpoint (%s) is past", cp)
	return len(got)
}

// Child is a child process of a crash test (internal/childproc's).
type Child interface {
	// Expect waits for a line starting with prefix, and returns its fields.
	Expect(t testing.TB, prefix string) []string
	// Kill kills the process with SIGKILL.
	Kill(t testing.TB)
}

// ParkCrash describes a backend's crash test of parked events.
type ParkCrash struct {
	// Backend holds the backlog (AppendPoisonedBacklog): Events events,
	// Poisoned among them.
	Backend  Backend
	Events   int
	Poisoned []emmett.RecordedEvent
	// Start starts a child process that runs ParkChild with stallAt, on
	// the backend's database.
	Start func(t *testing.T, stallAt int32) Child
	// Source is the feed of the processor that finishes the work in the
	// test's process.
	Source projection.Source
	// Killed, when set, checks the stored checkpoint after the first kill
	// (say, that it is a position of the feed's history).
	Killed func(t *testing.T, cp eventstore.Position)
}

// RunParkCrash runs a crash test of parked events: a child is killed in
// the transaction in which it parks the third poisoned event, another
// right after it parks (wherever its commit got to), and after each the
// events parked are those the checkpoint is past. A processor in this
// process then finishes the work: every poisoned event is parked once,
// every other event applied once.
func RunParkCrash(t *testing.T, c ParkCrash) {
	t.Helper()
	require.GreaterOrEqual(t, len(c.Poisoned), 5)
	ctx := context.Background()

	first := c.Start(t, 3)
	first.Expect(t, "stalled")
	first.Kill(t)
	assert.Equal(t, 2, RequireParkedWithCheckpoint(t, c.Backend, ParkChildID, c.Poisoned), "two parked, with their batches")
	cp, _, err := c.Backend.Processors().ReadCheckpoint(ctx, ParkChildID)
	require.NoError(t, err)
	assert.True(t, cp.Before(eventstore.PositionOf(c.Poisoned[2])), "the batch of the third was not committed")
	if c.Killed != nil {
		c.Killed(t, cp)
	}

	second := c.Start(t, 0)
	second.Expect(t, "parked")
	second.Expect(t, "parked")
	second.Kill(t)
	assert.GreaterOrEqual(t, RequireParkedWithCheckpoint(t, c.Backend, ParkChildID, c.Poisoned), 3)

	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	require.NoError(t, parkingProcessor(c.Backend.Processors(), c.Source).CatchUp(cctx))
	assert.Equal(t, len(c.Poisoned), RequireParkedWithCheckpoint(t, c.Backend, ParkChildID, c.Poisoned), "every poisoned event parked once")
	marks, _, err := projection.NewCollection[Tally](c.Backend.Documents(), "marks").Get(ctx, TallyID)
	require.NoError(t, err)
	assert.Equal(t, c.Events-len(c.Poisoned), marks.Events, "every other event applied once")
}

// ParkChildID is the id of ParkChild's processor.
const ParkChildID = "poisonable"

// ParkChild is what a crash test's child process runs: a Poisonable
// projection (into "marks") that parks every Poisoned event at once, on
// checkpoints (through a ParkAnnouncing with stallAt) and source, until it
// has caught up.
func ParkChild(ctx context.Context, checkpoints projection.CheckpointStore, source projection.Source, stallAt int32) error {
	return parkingProcessor(&ParkAnnouncing{CheckpointStore: checkpoints, StallAt: stallAt}, source).CatchUp(ctx)
}

// parkingProcessor is the processor of ParkChild.
func parkingProcessor(checkpoints projection.CheckpointStore, source projection.Source) *projection.Processor {
	return projection.NewProjectionProcessor(checkpoints, source, Poisonable("marks", func() bool { return true }),
		projection.WithFailurePolicy(projection.ParkOnFailure), projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}))
}

// ParkAnnouncing is the CheckpointStore of a crash test's child process:
// it prints "parked <global position>" once it has parked an event (in the
// batch's transaction, not yet committed), and in its StallAt-th park (1
// for the first; 0 for none) then hangs until ctx ends, as a process
// killed there would.
type ParkAnnouncing struct {
	projection.CheckpointStore
	StallAt int32
	parks   atomic.Int32
}

// Park implements projection.ParkedEvents.
func (a *ParkAnnouncing) Park(ctx context.Context, tx projection.Tx, e projection.ParkedEvent) error {
	if err := a.CheckpointStore.Park(ctx, tx, e); err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "parked", e.Event.GlobalPosition)
	if a.parks.Add(1) == a.StallAt {
		fmt.Fprintln(os.Stdout, "stalled")
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
