package projection_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func instancesOf(n int, procs []string) []projection.Instance {
	out := make([]projection.Instance, n)
	for i := range out {
		out[i] = projection.Instance{ID: fmt.Sprintf("host-%d:%d", i, 1000+i), Processors: procs}
	}
	return out
}

func processorIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("processor-%02d", i)
	}
	return out
}

// requireBalanced requires every processor on exactly one instance, and
// each instance to run ⌊P/N⌋ or ⌈P/N⌉ of them.
func requireBalanced(t *testing.T, got map[string][]string, instances []projection.Instance, procs []string) {
	t.Helper()
	n, p := len(instances), len(procs)
	var all []string
	for _, in := range instances {
		mine := got[in.ID]
		require.True(t, slices.IsSorted(mine))
		require.GreaterOrEqual(t, len(mine), p/n, "instance %s of %d with %d processors", in.ID, n, p)
		require.LessOrEqual(t, len(mine), (p+n-1)/n, "instance %s of %d with %d processors: at most ⌈P/N⌉", in.ID, n, p)
		all = append(all, mine...)
	}
	require.Len(t, got, min(n, len(got)), "only live instances get processors")
	slices.Sort(all)
	require.Equal(t, len(procs), len(all))
	if len(procs) > 0 {
		require.Equal(t, procs, all, "every processor on exactly one instance")
	}
}

func TestAssignBalanced(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for p := 0; p <= 25; p++ {
			instances, procs := instancesOf(n, processorIDs(p)), processorIDs(p)
			requireBalanced(t, projection.Assign(instances), instances, procs)
		}
	}
	got := projection.Assign(instancesOf(3, processorIDs(6)))
	for _, mine := range got {
		assert.Len(t, mine, 2, "3 instances and 6 processors: 2 each")
	}
	assert.Empty(t, projection.Assign(nil))
}

func TestAssignDeterministic(t *testing.T) {
	instances := instancesOf(5, processorIDs(17))
	want := projection.Assign(instances)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(instances)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for i := range shuffled {
			procs := slices.Clone(shuffled[i].Processors)
			r.Shuffle(len(procs), func(a, b int) { procs[a], procs[b] = procs[b], procs[a] })
			shuffled[i].Processors = procs
		}
		require.Equal(t, want, projection.Assign(shuffled), "the same rows in any order: the same assignment")
	}
}

// TestAssignMovesFew checks that an instance leaving or joining moves few
// processors besides its own: far fewer than a round robin over the
// sorted lists, which moves most of them.
func TestAssignMovesFew(t *testing.T) {
	procs := processorIDs(60)
	moved := 0
	for n := 3; n <= 8; n++ {
		instances := instancesOf(n, procs)
		before := owners(projection.Assign(instances))
		after := owners(projection.Assign(instances[1:])) // the first leaves
		for _, p := range procs {
			if before[p] != instances[0].ID && before[p] != after[p] {
				moved++
			}
		}
	}
	t.Logf("processors of the live instances that moved when one of N left, N = 3..8, 60 processors: %d of %d", moved, 6*60)
	assert.Less(t, moved, 6*60/4)
}

func owners(assignment map[string][]string) map[string]string {
	out := map[string]string{}
	for in, procs := range assignment {
		for _, p := range procs {
			out[p] = in
		}
	}
	return out
}

// TestAssignDifferentLists covers a rolling upgrade: a processor goes only
// to an instance that lists it.
func TestAssignDifferentLists(t *testing.T) {
	old := processorIDs(4)
	upgraded := append(slices.Clone(old), "processor-new")
	instances := []projection.Instance{{ID: "a", Processors: old}, {ID: "b", Processors: upgraded}, {ID: "c", Processors: old}}
	got := projection.Assign(instances)
	assert.Contains(t, got["b"], "processor-new", "only b can run it")
	var all []string
	for _, mine := range got {
		all = append(all, mine...)
		assert.LessOrEqual(t, len(mine), 2)
	}
	slices.Sort(all)
	assert.Equal(t, upgraded, all, "every processor on exactly one instance")
	require.Equal(t, got, projection.Assign(instances), "deterministic")
}
