package backend

import "github.com/emmett-go/emmett/eventstore"

// ResolveAppend resolves the options of an append: the expected version
// (any when not given) and the partition (eventstore.DefaultPartition when
// not given).
func ResolveAppend(opts ...eventstore.AppendOption) eventstore.AppendOptions {
	o := eventstore.AppendOptions{Partition: eventstore.DefaultPartition}
	for _, opt := range opts {
		if opt != nil {
			opt.ApplyToAppend(&o)
		}
	}
	return o
}

// ResolveRead resolves the options of a stream read: From is at least 1,
// and the partition is eventstore.DefaultPartition when not given.
func ResolveRead(opts ...eventstore.ReadOption) eventstore.ReadOptions {
	o := eventstore.ReadOptions{From: 1, Partition: eventstore.DefaultPartition}
	for _, opt := range opts {
		if opt != nil {
			opt.ApplyToRead(&o)
		}
	}
	if o.From < 1 {
		o.From = 1
	}
	return o
}

// ResolveReadAll resolves the options of a read of the global log, where no
// partition means every partition.
func ResolveReadAll(opts ...eventstore.ReadOption) eventstore.ReadOptions {
	var o eventstore.ReadOptions
	for _, opt := range opts {
		if opt != nil {
			opt.ApplyToRead(&o)
		}
	}
	return o
}

// ExpectedVersionCode encodes e as one integer, for backends that check it
// inside a SQL statement: -1 for any, -2 for no stream, -3 for stream
// exists, and the version itself (0 or more) for an exact version. It is
// the encoding Emmett for Node's append function uses.
func ExpectedVersionCode(e eventstore.ExpectedVersion) int64 {
	switch {
	case e.IsNoStream():
		return -2
	case e.IsStreamExists():
		return -3
	}
	if v, ok := e.Exact(); ok {
		return v
	}
	return -1
}
