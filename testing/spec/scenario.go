package spec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// describeScenario describes a spec for failure messages: what was given
// (none says how an empty history reads), what came (when), and the
// outcome: the error, or what was decided, under label.
func describeScenario[G, W, O any](given []G, none string, when W, err error, label string, outcome []O, describe func(O) string) string {
	var b strings.Builder
	b.WriteString("given:")
	if len(given) == 0 {
		b.WriteString(" " + none)
	}
	for _, g := range given {
		fmt.Fprintf(&b, "\n\t%s", Describe(g))
	}
	fmt.Fprintf(&b, "\nwhen:\n\t%s", Describe(when))
	if err != nil {
		fmt.Fprintf(&b, "\nactual error: %v", err)
		return b.String()
	}
	fmt.Fprintf(&b, "\nactual %s:", label)
	if len(outcome) == 0 {
		b.WriteString(" (none)")
	}
	for _, o := range outcome {
		fmt.Fprintf(&b, "\n\t%s", describe(o))
	}
	return b.String()
}

// requireExactly asserts that a decision succeeded (failed names it
// otherwise) with exactly expected, in order (unexpected names the
// difference).
func requireExactly[T any](t testing.TB, err error, expected, actual []T, failed, unexpected, scenario string) {
	t.Helper()
	require.NoError(t, err, "%s\n%s", failed, scenario)
	if len(expected) == 0 {
		expected = []T{}
	}
	if actual == nil {
		actual = []T{}
	}
	require.Equal(t, expected, actual, "%s\n%s", unexpected, scenario)
}
