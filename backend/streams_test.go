package backend_test

import (
	"testing"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/stretchr/testify/assert"
)

func TestPrefixEnd(t *testing.T) {
	for prefix, want := range map[string]string{"cart-": "cart.", "a\xff": "b", "a\xff\xff": "b", "z": "{"} {
		end, ok := backend.PrefixEnd(prefix)
		assert.True(t, ok, prefix)
		assert.Equal(t, want, end, prefix)
	}
	for _, prefix := range []string{"", "\xff", "\xff\xff"} {
		_, ok := backend.PrefixEnd(prefix)
		assert.False(t, ok, "no end after %q", prefix)
	}
}

func TestRangeOf(t *testing.T) {
	assert.Equal(t, backend.StreamRange{From: "cart-", Inclusive: true, End: "cart.", Bounded: true},
		backend.RangeOf(eventstore.StreamQuery{Prefix: "cart-"}), "from the prefix")
	assert.Equal(t, backend.StreamRange{From: "cart-9", End: "cart.", Bounded: true},
		backend.RangeOf(eventstore.StreamQuery{Prefix: "cart-", After: "cart-9"}), "after the last name of the page before")
	assert.Equal(t, backend.StreamRange{From: "cart-", Inclusive: true, End: "cart.", Bounded: true},
		backend.RangeOf(eventstore.StreamQuery{Prefix: "cart-", After: "a"}), "an after before the prefix")
	r := backend.RangeOf(eventstore.StreamQuery{})
	assert.Equal(t, ">", r.LowerOp())
	assert.False(t, r.Bounded)
	assert.Equal(t, eventstore.StreamQuery{Partition: eventstore.DefaultPartition, Limit: eventstore.DefaultStreamPage},
		backend.ResolveStreamQuery(eventstore.StreamQuery{}))
}
