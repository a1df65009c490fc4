package wasm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The modules that misbehave on "Boom" events, what their error matches and
// what it says.
var faulty = []struct {
	pkg       string
	kind      error
	says      string
	transform bool // their transformation misbehaves too
	timeout   time.Duration
}{
	{"./testdata/trap", wasm.ErrTrap, `emmett_evolve_batch trapped: trap: about to panic; panic: boom: the trap module panics`, true, 5 * time.Second},
	{"./testdata/loop", wasm.ErrTimeout, `emmett_evolve_batch timed out: no result after 300ms; the instance was stopped`, true, 300 * time.Millisecond},
	{"./testdata/malformed", wasm.ErrMalformedResult, `emmett_evolve_batch returned a malformed result: invalid JSON: unexpected 'o' at offset 39, expecting a key in "{\"documents\":[{\"document\":{\"count\": 1, oops}]}"`, false, 5 * time.Second},
	// The hog must reach its memory limit before the call bound: under the
	// race detector on a loaded machine, allocating 16 MiB can take seconds.
	{"./testdata/hog", wasm.ErrMemoryLimit, `emmett_evolve_batch ran out of memory: memory limit of 16 MiB: runtime: out of memory`, true, 60 * time.Second},
}

// faultyOptions bound the modules' memory to 16 MiB: room for the Go
// runtime of a module, and little for the hog to fill, as each growth of
// an instance's memory copies it whole (at 32 MiB the hog took a quarter of
// the package's time under the race detector).
func faultyOptions(timeout time.Duration) []wasm.Option {
	return []wasm.Option{wasm.WithCallTimeout(timeout), wasm.WithMemoryLimit(16 << 20)}
}

func TestFaultyModuleRollsTheAppendBack(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		for _, f := range faulty {
			t.Run(b.name+"/"+f.pkg, func(t *testing.T) {
				p := tallyProjection(t, f.pkg, faultyOptions(f.timeout)...)
				store := b.open(t, p)
				appendEvents(t, store, "s-1", event("Opened"))
				before := documents(t, store.Documents(), "tallies")
				require.Equal(t, map[string]tally{"s-1": {Count: 1, Types: []string{"Opened"}}}, before)

				start := time.Now()
				_, err := store.AppendToStream(ctx, "s-1", []eventstore.EventData{event("Added"), event("Boom")})
				require.ErrorIs(t, err, f.kind)
				assert.Less(t, time.Since(start), f.timeout+10*time.Second, "the failure ends the call within its bound")
				var perr *projection.Error
				require.ErrorAs(t, err, &perr)
				assert.Equal(t, "Boom", perr.Event.Type)
				assert.Equal(t, eventstore.Position{GlobalPosition: 3}, perr.Position())
				assert.Equal(t, int64(3), perr.Event.StreamPosition)
				var cerr *wasm.CallError
				require.ErrorAs(t, err, &cerr)
				assert.Equal(t, "emmett_evolve_batch", cerr.Function)
				assert.Contains(t, err.Error(), `projection "tallies": event "Boom" at 3 (stream "s-1" position 3): wasm module "`)
				assert.Contains(t, err.Error(), f.says)
				t.Log(err)

				// Nothing of the append is kept: not the events, not the
				// document changes.
				version, _, err := store.StreamVersion(ctx, "s-1")
				require.NoError(t, err)
				assert.Equal(t, int64(1), version)
				head, err := store.Head(ctx)
				require.NoError(t, err)
				assert.Equal(t, eventstore.Position{GlobalPosition: 1}, head)
				assert.Len(t, readAll(t, store), 1)
				assert.Equal(t, before, documents(t, store.Documents(), "tallies"))

				// The host goes on, with a fresh instance.
				appendEvents(t, store, "s-1", event("Added"))
				assert.Equal(t, tally{Count: 2, Types: []string{"Opened", "Added"}}, documents(t, store.Documents(), "tallies")["s-1"])
			})
		}
	}
}

func TestFaultyModuleStopsTheProcessor(t *testing.T) {
	for _, f := range faulty {
		t.Run(f.pkg, func(t *testing.T) {
			p := tallyProjection(t, f.pkg, faultyOptions(f.timeout)...)
			store := memory.New()
			first := appendEvents(t, store, "s-1", event("Opened"), event("Added"))
			proc, done := runProcessor(t, store, p)
			waitFor(t, proc, first.Position)
			before := documents(t, store.Documents(), "tallies")
			require.Len(t, before, 1)

			appendEvents(t, store, "s-2", event("Opened"), event("Boom"), event("After"))
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the processor did not stop")
			}
			var perr *projection.ProcessorError
			require.ErrorAs(t, err, &perr)
			require.ErrorIs(t, err, f.kind)
			assert.Equal(t, "Boom", perr.Event.Type)
			assert.Equal(t, eventstore.Position{GlobalPosition: 4}, perr.Position())
			assert.Contains(t, err.Error(), `processor "tallies" stopped at event "Boom", position 4 (stream "s-2" position 2)`)
			assert.Contains(t, err.Error(), f.says)

			// The read model and the checkpoint are where they were.
			assert.Equal(t, before, documents(t, store.Documents(), "tallies"))
			cp, found, err := store.Processors().ReadCheckpoint(context.Background(), "tallies")
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, first.Position, cp)

			// The module still works elsewhere.
			other := memory.New(memory.WithProjections(p))
			appendEvents(t, other, "x-1", event("Opened"))
			assert.Len(t, documents(t, other.Documents(), "tallies"), 1)
		})
	}
}

func TestFaultyTransformation(t *testing.T) {
	ctx := context.Background()
	for _, f := range faulty {
		if !f.transform {
			continue
		}
		t.Run(f.pkg, func(t *testing.T) {
			tr, err := wasm.NewTransformer(wasmtest.Load(t, f.pkg, faultyOptions(f.timeout)...))
			require.NoError(t, err)
			inner := memory.New()
			appendEvents(t, inner, "s-1", event("Renamed"), event("Boom"), event("After"))

			// On read: the sequence ends with the error, after the events
			// before it.
			store := wasm.NewStore(inner, wasm.TransformOnRead(tr))
			var types []string
			for e, err := range store.ReadStream(ctx, "s-1") {
				if err != nil {
					require.ErrorIs(t, err, f.kind)
					var terr *wasm.TransformError
					require.ErrorAs(t, err, &terr)
					assert.Equal(t, eventstore.Position{GlobalPosition: 2}, terr.Position())
					assert.Equal(t, -1, terr.Index)
					assert.Contains(t, err.Error(), `event "Boom" at 2 (stream "s-1" position 2): wasm module "`)
					assert.Contains(t, err.Error(), "emmett_transform")
					break
				}
				types = append(types, e.Type)
			}
			assert.Equal(t, []string{"Transformed"}, types)

			// Before an append: nothing is appended.
			store = wasm.NewStore(inner, wasm.TransformBeforeAppend(tr))
			_, err = store.AppendToStream(ctx, "s-2", []eventstore.EventData{event("Renamed"), event("Boom")})
			require.ErrorIs(t, err, f.kind)
			var terr *wasm.TransformError
			require.ErrorAs(t, err, &terr)
			assert.Equal(t, 1, terr.Index)
			assert.Contains(t, err.Error(), `event 1 ("Boom") appended to stream "s-2"`)
			_, exists, err := inner.StreamVersion(ctx, "s-2")
			require.NoError(t, err)
			assert.False(t, exists)

			// The host goes on.
			appendEvents(t, store, "s-2", event("Renamed"))
			assert.Equal(t, "Transformed", readStream(t, inner, "s-2")[0].Type)
		})
	}
}

func TestModuleErrorFailsTheAppend(t *testing.T) {
	p := tallyProjection(t, "./testdata/tally")
	store := memory.New(memory.WithProjections(p))
	_, err := store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Reject")})
	require.ErrorIs(t, err, wasm.ErrGuest)
	assert.EqualError(t, err, `projection "tallies": event "Reject" at 1 (stream "s-1" position 1): wasm module "tally": emmett_evolve_batch failed: rejected by the tally module`)
	// A reported error keeps the instance: the next append works.
	appendEvents(t, store, "s-1", event("Opened"))

	// The module names the failing event of a run.
	_, err = store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Added"), event("Reject"), event("Added")})
	var perr *projection.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "Reject", perr.Event.Type)
	assert.Equal(t, int64(3), perr.Event.StreamPosition)
}

func TestProcessorStopsPromptlyInsideALoopingModule(t *testing.T) {
	p := tallyProjection(t, "./testdata/loop", wasm.WithCallTimeout(time.Minute))
	store := memory.New()
	appendEvents(t, store, "s-1", event("Boom"))
	ctx, cancel := context.WithCancel(context.Background())
	proc := projection.NewProjectionProcessor(store.Processors(), store.Source(), p)
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a cancelled processor stops without an error")
		assert.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("the processor did not stop")
	}
	assert.Empty(t, documents(t, store.Documents(), "tallies"))
}

func TestCallErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  *wasm.CallError
		want string
	}{
		{&wasm.CallError{Module: "m", Function: "emmett_evolve", Kind: wasm.ErrTrap, Detail: "wasm error: unreachable"}, `wasm module "m": emmett_evolve trapped: wasm error: unreachable`},
		{&wasm.CallError{Module: "m", Function: "emmett_transform", Kind: context.Canceled, Detail: "the caller's context ended"}, `wasm module "m": emmett_transform stopped (context canceled): the caller's context ended`},
	} {
		assert.EqualError(t, c.err, c.want)
		assert.ErrorIs(t, c.err, c.err.Kind)
	}
	mem := &wasm.CallError{Kind: wasm.ErrMemoryLimit, Err: fmt.Errorf("x")}
	assert.ErrorIs(t, mem, wasm.ErrTrap)
	assert.NotErrorIs(t, mem, wasm.ErrTimeout)
}
