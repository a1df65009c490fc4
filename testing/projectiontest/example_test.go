package projectiontest_test

import (
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
)

// A backend runs the suite (documents, inline projections, processors)
// from one test of its own; New returns an empty store with the inline
// projections it is given, Source the feed its processors read.
func ExampleRun() {
	// In the backend's _test.go file:
	_ = func(t *testing.T) { // func TestProjections(t *testing.T)
		projectiontest.Run(t, projectiontest.Config{
			New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
				return memory.New(memory.WithProjections(inline...))
			},
			Source: func(b projectiontest.Backend) projection.Source {
				return b.(*memory.Store).Source()
			},
			WokenSource: func(b projectiontest.Backend) projection.Source {
				return b.(*memory.Store).Source(projection.PollInterval(time.Hour))
			},
		})
	}
}

// The suite's fixtures serve a backend's own tests too: Counters is a
// document projection over the suite's events, Append appends them, and
// RequireCountersMatchReplay checks its documents against a fold of the
// whole log.
func ExampleCounters() {
	_ = func(t *testing.T) {
		store := memory.New(memory.WithProjections(projectiontest.Counters("counters")))
		projectiontest.Append(t, store, "counter-1", projectiontest.Incremented{By: 2}, projectiontest.Incremented{By: 3})
		projectiontest.RequireCountersMatchReplay(t, store, "counters")
	}
}
