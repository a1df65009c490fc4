package spec_test

import (
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
)

// upcastingEvents: Incremented at version 2; version 1 stored {"amount":N};
// "Bumped" was its old name.
var upcastingEvents = emmett.NewEvents[Event](Incremented{}, Capped{}).
	Upcast("Incremented", 1, emmett.UpcastJSON(func(v1 struct{ Amount int }) (Incremented, error) {
		return Incremented{By: v1.Amount}, nil
	})).
	Renamed("Bumped", "Incremented")

// Specs given events as they were stored, at older versions: the decider
// spec through spec.Stored, the documents spec through GivenStored.
func TestGivenStoredEvents(t *testing.T) {
	spec.For(t, counter).
		Given(spec.Stored(t, upcastingEvents, "Incremented", 1, `{"Amount":5}`), spec.Stored(t, upcastingEvents, "Bumped", 2, `{"By":3}`)).
		When(Increment{4}).Then(Incremented{4}, Capped{}).ThenState(12)

	spec.ForDocuments(t, totalsOf(upcastingEvents), upcastingEvents).
		GivenStored("counter-1",
			eventstore.EventData{Type: "Incremented", Data: []byte(`{"Amount":2}`), SchemaVersion: 1},
			eventstore.EventData{Type: "Bumped", Data: []byte(`{"By":3}`), SchemaVersion: 2}).
		Given("counter-1", Incremented{By: 1}).
		ThenDocument("counter-1", Total{Sum: 6, Events: 3})

	r := run(t, func(tb testing.TB) { spec.Stored(tb, upcastingEvents, "Incremented", 3, `{}`) })
	assert.True(t, r.failed, "a version the registry cannot read fails the test")
	assert.Contains(t, r.output(), "unknown event schema version")
}
