package backend

import "github.com/emmett-go/emmett/eventstore"

// ResolveStreamQuery returns q with its defaults filled in: the default
// partition and page size.
func ResolveStreamQuery(q eventstore.StreamQuery) eventstore.StreamQuery {
	if q.Partition == "" {
		q.Partition = eventstore.DefaultPartition
	}
	if q.Limit <= 0 {
		q.Limit = eventstore.DefaultStreamPage
	}
	return q
}

// StreamRange is the range of stream names, in byte order, that a page of
// streams (an eventstore.StreamQuery) reads from an index: from From
// (included when Inclusive), up to End excluded when Bounded. It has one
// lower bound, the greater of the prefix and the name the page starts
// after, so that the index scan starts there: a page costs the same
// however deep it is.
type StreamRange struct {
	From      string
	Inclusive bool
	End       string
	Bounded   bool
}

// RangeOf returns the range of names that q reads.
func RangeOf(q eventstore.StreamQuery) StreamRange {
	r := StreamRange{From: q.Prefix, Inclusive: true}
	if q.After >= q.Prefix {
		r.From, r.Inclusive = q.After, false
	}
	r.End, r.Bounded = PrefixEnd(q.Prefix)
	return r
}

// LowerOp is the SQL operator of the range's lower bound: ">=" or ">".
func (r StreamRange) LowerOp() string {
	if r.Inclusive {
		return ">="
	}
	return ">"
}

// PrefixEnd returns the least string greater than every string that
// starts with prefix, in byte order, and false when there is none (prefix
// is empty or all 0xff bytes): the exclusive upper bound of an index range
// scan for the prefix.
func PrefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
