package spec_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records failures instead of failing, so the
// tests can prove that a spec fails when it should, and says why.
type recorder struct {
	testing.TB
	failed bool
	msgs   []string
}

type failNow struct{}

func (r *recorder) Helper()      {}
func (r *recorder) Fail()        { r.failed = true }
func (r *recorder) Failed() bool { return r.failed }
func (r *recorder) FailNow()     { r.failed = true; panic(failNow{}) }
func (r *recorder) Errorf(format string, a ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) { r.Errorf(format, a...); r.FailNow() }
func (r *recorder) output() string                 { return strings.Join(r.msgs, "\n") }

// run runs f against a recorder and returns it.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(failNow); !ok {
					panic(v)
				}
			}
		}()
		f(r)
	}()
	return r
}

type Event interface{ isEvent() }
type Incremented struct{ By int }
type Capped struct{}

func (Incremented) isEvent() {}
func (Capped) isEvent()      {}

type Increment struct{ By int }

var errTooBig = fmt.Errorf("%w: too big", emmett.ErrIllegalState)

type tooBigError struct{ Limit int }

func (e *tooBigError) Error() string { return fmt.Sprintf("over %d", e.Limit) }

var counter = emmett.Decider[int, Increment, Event]{
	Decide: func(c Increment, n int) ([]Event, error) {
		switch {
		case c.By == 0:
			return nil, nil
		case c.By > 100:
			return nil, fmt.Errorf("%w: %w", errTooBig, &tooBigError{Limit: 100})
		case n+c.By >= 10:
			return []Event{Incremented{c.By}, Capped{}}, nil
		}
		return []Event{Incremented{c.By}}, nil
	},
	Evolve: func(n int, e Event) int {
		if inc, ok := e.(Incremented); ok {
			return n + inc.By
		}
		return n
	},
	InitialState: func() int { return 0 },
}

func TestThenPasses(t *testing.T) {
	spec.For(t, counter).When(Increment{2}).Then(Incremented{2}).ThenState(2)
	spec.For(t, counter).Given(Incremented{5}, Incremented{3}).When(Increment{4}).Then(Incremented{4}, Capped{}).ThenState(12)
	spec.For(t, counter).Given(Incremented{1}).When(Increment{0}).ThenNothingHappened()
	spec.For(t, counter).When(Increment{101}).ThenError(errTooBig)
	spec.For(t, counter).When(Increment{101}).ThenError(emmett.ErrIllegalState)
	var tooBig *tooBigError
	spec.For(t, counter).When(Increment{101}).ThenErrorAs(&tooBig)
	assert.Equal(t, 100, tooBig.Limit, "ThenErrorAs leaves the error in its target")
	spec.For(t, counter).When(Increment{101}).ThenErrorMatches(func(err error) bool { return strings.Contains(err.Error(), "over 100") })
	spec.For(t, counter).When(Increment{1}).ThenAssert(func(t testing.TB, events []Event, err error) {
		require.NoError(t, err)
		assert.Len(t, events, 1)
	})
}

func TestThenFailsOnOtherEvents(t *testing.T) {
	r := run(t, func(tb testing.TB) {
		spec.For(tb, counter).Given(Incremented{1}).When(Increment{2}).Then(Incremented{3})
	})
	require.True(t, r.failed)
	out := r.output()
	assert.Regexp(t, `given:\s+spec_test.Incremented\{By:1\}`, out, "prints the given events")
	assert.Regexp(t, `when:\s+spec_test.Increment\{By:2\}`, out, "prints the command")
	assert.Regexp(t, `actual events:\s+spec_test.Incremented\{By:2\}`, out, "prints the actual events")
	assert.Contains(t, out, "Diff:", "shows testify's diff")
}

func TestThenFailsOnMissingOrExtraEvents(t *testing.T) {
	assert.True(t, run(t, func(tb testing.TB) {
		spec.For(tb, counter).Given(Incremented{9}).When(Increment{1}).Then(Incremented{1})
	}).failed, "an extra event fails")
	assert.True(t, run(t, func(tb testing.TB) {
		spec.For(tb, counter).When(Increment{0}).Then(Incremented{0})
	}).failed, "a missing event fails")
	assert.True(t, run(t, func(tb testing.TB) {
		spec.For(tb, counter).Given(Incremented{9}).When(Increment{1}).Then(Capped{}, Incremented{1})
	}).failed, "the order matters")
}

func TestThenFailsOnAnError(t *testing.T) {
	r := run(t, func(tb testing.TB) { spec.For(tb, counter).When(Increment{200}).Then(Incremented{200}) })
	require.True(t, r.failed)
	assert.Contains(t, r.output(), "actual error: emmett: illegal state: too big")
}

func TestThenErrorFails(t *testing.T) {
	assert.True(t, run(t, func(tb testing.TB) {
		spec.For(tb, counter).When(Increment{1}).ThenError(errTooBig)
	}).failed, "no error where one was expected")
	assert.True(t, run(t, func(tb testing.TB) {
		spec.For(tb, counter).When(Increment{200}).ThenError(emmett.ErrValidation)
	}).failed, "another error")
	assert.True(t, run(t, func(tb testing.TB) {
		var target *tooBigError
		spec.For(tb, counter).When(Increment{1}).ThenErrorAs(&target)
	}).failed)
	assert.True(t, run(t, func(tb testing.TB) {
		spec.For(tb, counter).When(Increment{200}).ThenErrorMatches(func(err error) bool { return errors.Is(err, emmett.ErrNotFound) })
	}).failed)
}

func TestThenNothingHappenedFails(t *testing.T) {
	assert.True(t, run(t, func(tb testing.TB) { spec.For(tb, counter).When(Increment{1}).ThenNothingHappened() }).failed)
	assert.True(t, run(t, func(tb testing.TB) { spec.For(tb, counter).When(Increment{200}).ThenNothingHappened() }).failed)
}

func TestThenStateFails(t *testing.T) {
	assert.True(t, run(t, func(tb testing.TB) { spec.For(tb, counter).Given(Incremented{1}).When(Increment{1}).ThenState(1) }).failed)
}

func TestThenAssertReportsTheScenario(t *testing.T) {
	r := run(t, func(tb testing.TB) {
		spec.For(tb, counter).When(Increment{1}).ThenAssert(func(t testing.TB, events []Event, err error) {
			assert.Empty(t, events)
		})
	})
	require.True(t, r.failed)
	assert.Regexp(t, `when:\s+spec_test.Increment\{By:1\}`, r.output())
}
