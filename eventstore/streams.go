package eventstore

import "context"

// StreamInfo describes a stream, as a StreamLister lists it.
type StreamInfo struct {
	// Name is the stream's name.
	Name string
	// Partition is the partition the stream lives in.
	Partition string
	// Type is the stream's type: the part of its name before the first
	// '-' (see StreamType).
	Type string
	// Version is the position of the stream's last event.
	Version int64
}

// StreamQuery selects a page of streams: those of one partition whose name
// starts with a prefix, after a name, in byte order of their names. Its
// zero value selects the first DefaultStreamPage streams of the default
// partition.
type StreamQuery struct {
	// Partition is the partition listed; DefaultPartition when "".
	Partition string
	// Prefix keeps the streams whose name starts with it ("" for all).
	Prefix string
	// After is the last name of the page before (keyset pagination):
	// the page starts with the next name. "" starts at the first.
	After string
	// Limit is the most streams returned; DefaultStreamPage when 0 or
	// less.
	Limit int
}

// DefaultStreamPage is the size of a page of streams when a StreamQuery
// sets no Limit.
const DefaultStreamPage = 50

// StreamLister lists the streams of a store, a page at a time: the SQL
// stores read an index in the order of stream names, so that a page costs
// the same wherever it starts (keyset pagination, never an offset).
type StreamLister interface {
	// ListStreams returns the streams q selects, archived streams left
	// out, sorted by name in byte order.
	ListStreams(ctx context.Context, q StreamQuery) ([]StreamInfo, error)
}
