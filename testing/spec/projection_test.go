package spec_test

import (
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Total struct {
	Sum    int `json:"sum"`
	Events int `json:"events"`
}

var counterEvents = emmett.NewEvents[Event](Incremented{}, Capped{})

func totals() *projection.DocumentProjection[Total, Event] { return totalsOf(counterEvents) }

// totalsOf is the totals projection decoding with events.
func totalsOf(events *emmett.Events[Event]) *projection.DocumentProjection[Total, Event] {
	return projection.SingleStream("totals", events, func(doc *Total, e emmett.Recorded[Event]) *Total {
		if doc == nil {
			doc = &Total{}
		}
		switch ev := e.Event.(type) {
		case Incremented:
			doc.Sum += ev.By
			doc.Events++
		case Capped:
			return nil
		}
		return doc
	})
}

func TestDocumentsSpecPasses(t *testing.T) {
	spec.ForDocuments(t, totals(), counterEvents).
		Given("counter-1", Incremented{By: 2}, Incremented{By: 3}).
		Given("counter-2", Incremented{By: 1}).
		Given("counter-1", Incremented{By: 1}).
		Then(map[string]Total{"counter-1": {Sum: 6, Events: 3}, "counter-2": {Sum: 1, Events: 1}})
	spec.ForDocuments(t, totals(), counterEvents).
		Given("counter-1", Incremented{By: 2}).
		ThenDocument("counter-1", Total{Sum: 2, Events: 1})
	spec.ForDocuments(t, totals(), counterEvents).
		Given("counter-1", Incremented{By: 2}, Capped{}).
		ThenNoDocument("counter-1")
	spec.ForDocuments(t, totals(), counterEvents).Then(nil)
}

func TestDocumentsSpecFails(t *testing.T) {
	r := run(t, func(tb testing.TB) {
		spec.ForDocuments(tb, totals(), counterEvents).
			Given("counter-1", Incremented{By: 2}).
			ThenDocument("counter-1", Total{Sum: 3, Events: 1})
	})
	require.True(t, r.failed)
	assert.Contains(t, r.output(), "spec_test.Incremented{By:2}", "prints the given events")
	assert.True(t, run(t, func(tb testing.TB) {
		spec.ForDocuments(tb, totals(), counterEvents).Given("counter-1", Incremented{By: 2}).ThenNoDocument("counter-1")
	}).failed)
	assert.True(t, run(t, func(tb testing.TB) {
		spec.ForDocuments(tb, totals(), counterEvents).Given("counter-1", Incremented{By: 2}).Then(map[string]Total{})
	}).failed)
}

// A projection with hidden state gives another result when replayed: the
// spec's second run catches it.
func TestDocumentsSpecCatchesHiddenState(t *testing.T) {
	calls := 0
	leaky := projection.SingleStream("leaky", counterEvents, func(doc *Total, e emmett.Recorded[Event]) *Total {
		calls++
		return &Total{Sum: calls}
	})
	assert.True(t, run(t, func(tb testing.TB) {
		spec.ForDocuments(tb, leaky, counterEvents).Given("counter-1", Incremented{By: 1}).ThenDocument("counter-1", Total{Sum: 1})
	}).failed)
}
