package storetest_test

import (
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/testing/storetest"
)

// A backend runs the whole suite from one test of its own; each case is a
// named subtest (go test -run 'TestConformance/ExpectedVersions').
func ExampleRun() {
	// In the backend's _test.go file:
	_ = func(t *testing.T) { // func TestConformance(t *testing.T)
		storetest.Run(t, storetest.Config{
			New:               func(t *testing.T) eventstore.Store { return memory.New() },
			LargeStreamEvents: 10_000,
		})
	}
}

// FirstError asserts that a read fails, where a loop over the read with
// an assertion inside would pass on a read that yields nothing.
func ExampleFirstError() {
	_ = func(t *testing.T, s eventstore.Store) {
		err := storetest.FirstError(s.ReadStream(t.Context(), "bad\x00name"))
		if err == nil {
			t.Fatal("a read of an invalid stream name must fail")
		}
	}
}
