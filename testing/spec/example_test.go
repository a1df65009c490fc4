package spec_test

import (
	"testing"

	"github.com/emmett-go/emmett/testing/spec"
)

// A decider spec, as it is written in a test function.
func Example() {
	t := &testing.T{} // in a real test, the *testing.T of the test function

	spec.For(t, counter).
		Given(Incremented{By: 5}).
		When(Increment{By: 5}).
		Then(Incremented{By: 5}, Capped{})

	spec.For(t, counter).
		When(Increment{By: 500}).
		ThenError(errTooBig)
	// Output:
}
