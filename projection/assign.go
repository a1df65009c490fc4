package projection

import (
	"cmp"
	"hash/fnv"
	"slices"
)

// Assign spreads processors over the live instances of a group: it
// returns, for each instance id, the ids of the processors it is to run,
// sorted. Every instance of a group computes the same answer from the same
// rows, whatever their order, so that the group agrees without talking.
//
// Each processor that some instance lists (Instance.Processors) goes to
// exactly one instance that lists it. Where every instance lists the same
// P processors (as the instances of one release do), each of the N
// instances gets ⌊P/N⌋ or ⌈P/N⌉ of them. Which instance a processor goes
// to is a bounded-load rendezvous hash: each processor ranks the instances
// by a hash of both ids and goes to the first in its ranking with room
// left, so that an instance joining or leaving moves few processors
// besides its own. Where instances list different processors (during a
// rolling upgrade that adds one), a processor that finds no room among
// the instances that list it goes to the least loaded of them.
func Assign(instances []Instance) map[string][]string {
	ids := make([]string, 0, len(instances))
	knows := map[string]map[string]bool{} // instance -> processors it lists
	for _, in := range instances {
		if _, dup := knows[in.ID]; dup {
			continue
		}
		ids = append(ids, in.ID)
		set := make(map[string]bool, len(in.Processors))
		for _, p := range in.Processors {
			set[p] = true
		}
		knows[in.ID] = set
	}
	slices.Sort(ids)
	var procs []string
	for _, id := range ids {
		for p := range knows[id] {
			procs = append(procs, p)
		}
	}
	slices.Sort(procs)
	procs = slices.Compact(procs)
	// The processors fewer instances list go first, while there is room
	// on those instances (only where the lists differ); then by id.
	listed := make(map[string]int, len(procs))
	for _, id := range ids {
		for p := range knows[id] {
			listed[p]++
		}
	}
	slices.SortStableFunc(procs, func(a, b string) int { return cmp.Compare(listed[a], listed[b]) })

	out := make(map[string][]string, len(ids))
	if len(ids) == 0 {
		return out
	}
	floor, extras := len(procs)/len(ids), len(procs)%len(ids)
	load := make(map[string]int, len(ids))
	type ranked struct {
		id    string
		score uint64
	}
	ranking := make([]ranked, 0, len(ids))
	for _, p := range procs {
		ranking = ranking[:0]
		for _, id := range ids {
			if knows[id][p] {
				ranking = append(ranking, ranked{id, rendezvous(id, p)})
			}
		}
		slices.SortFunc(ranking, func(a, b ranked) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		chosen := ""
		for _, r := range ranking {
			if load[r.id] < floor {
				chosen = r.id
				break
			}
			if load[r.id] == floor && extras > 0 {
				chosen = r.id
				extras--
				break
			}
		}
		if chosen == "" { // only where instances list different processors
			for _, r := range ranking {
				if chosen == "" || load[r.id] < load[chosen] {
					chosen = r.id
				}
			}
		}
		load[chosen]++
		out[chosen] = append(out[chosen], p)
	}
	for _, mine := range out {
		slices.Sort(mine)
	}
	return out
}

// rendezvous is the rank of instance for processor: a 64-bit hash of both
// ids, mixed so that near ids rank far apart.
func rendezvous(instance, processor string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(instance))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(processor))
	x := h.Sum64()
	// splitmix64's finalizer.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
