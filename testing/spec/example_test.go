package spec_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/testing/spec"
)

// exampleT stands in for the *testing.T of a test function in these
// examples: it prints what a failing spec reports, so that a failure
// changes the example's output.
type exampleT struct {
	testing.TB
	failed bool
}

func (t *exampleT) Helper()      {}
func (t *exampleT) Name() string { return "Example" }
func (t *exampleT) Failed() bool { return t.failed }
func (t *exampleT) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Printf("FAIL: "+format+"\n", args...)
}
func (t *exampleT) FailNow() { panic("spec failed") }

// A decider spec, as it is written in a test function.
func Example() {
	t := &exampleT{} // in a real test, the *testing.T of the test function

	spec.For(t, counter).
		Given(Incremented{By: 5}).
		When(Increment{By: 5}).
		Then(Incremented{By: 5}, Capped{}).
		ThenState(10)

	spec.For(t, counter).
		When(Increment{By: 500}).
		ThenError(errTooBig)

	spec.For(t, counter).
		Given(Incremented{By: 1}).
		When(Increment{By: 0}).
		ThenNothingHappened()
	fmt.Println("failed:", t.failed)
	// Output:
	// failed: false
}

// A projection spec: the given events, appended to their streams, and the
// documents the projection must keep of them. The projection runs twice,
// once per append and once as a single catch-up batch; both must agree.
func ExampleForDocuments() {
	t := &exampleT{}

	spec.ForDocuments(t, totals(), counterEvents).
		Given("counter-1", Incremented{By: 2}, Incremented{By: 3}).
		Given("counter-2", Incremented{By: 1}).
		Then(map[string]Total{
			"counter-1": {Sum: 5, Events: 2},
			"counter-2": {Sum: 1, Events: 1},
		})

	// A projection that returns nil deletes the document.
	spec.ForDocuments(t, totals(), counterEvents).
		Given("counter-1", Incremented{By: 2}, Capped{}).
		ThenNoDocument("counter-1")
	fmt.Println("failed:", t.failed)
	// Output:
	// failed: false
}

// An HTTP spec: the streams in a store, a request to a handler on that
// store, and the response and events it must give.
func ExampleForHTTP() {
	t := &exampleT{}
	store := memory.New()

	spec.ForHTTP(t, store, counterEvents, counterAPI(store)).
		Given("counter-1", Incremented{By: 2}).
		When(spec.Post("/counters/1", map[string]int{"by": 3}).IfMatch(`W/"1"`)).
		ThenStatus(http.StatusOK).
		ThenHeader("ETag", `W/"2"`).
		ThenJSON(`{"nextExpectedVersion": 2, "position": "2"}`).
		ThenAppended("counter-1", Incremented{By: 3})

	// A stale If-Match: 412, as problem details, and nothing appended.
	store = memory.New()
	spec.ForHTTP(t, store, counterEvents, counterAPI(store)).
		Given("counter-1", Incremented{By: 2}, Incremented{By: 1}).
		When(spec.Post("/counters/1", map[string]int{"by": 3}).IfMatch(`W/"1"`)).
		ThenProblem(http.StatusPreconditionFailed).
		ThenJSONContains(`{"expectedVersion": 1, "actualVersion": 2}`).
		ThenNothingAppended()
	fmt.Println("failed:", t.failed)
	// Output:
	// failed: false
}
