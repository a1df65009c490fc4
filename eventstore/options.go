package eventstore

// DefaultPartition is the partition streams live in unless told otherwise;
// the name is the one Emmett for Node uses.
const DefaultPartition = "emt:default"

// AppendOption configures one append. ExpectedVersion values and
// InPartition are AppendOptions.
type AppendOption interface{ applyAppend(*AppendOptions) }

// ReadOption configures one read. FromVersion, ToVersion, MaxCount and
// InPartition are ReadOptions.
type ReadOption interface{ applyRead(*ReadOptions) }

// AppendOptions is the resolved form of a list of AppendOption, for backends.
type AppendOptions struct {
	// ExpectedVersion is the condition on the stream's version.
	ExpectedVersion ExpectedVersion
	// Partition is the partition (tenant or module) of the stream;
	// DefaultPartition when not given.
	Partition string
}

// ReadOptions is the resolved form of a list of ReadOption, for backends.
type ReadOptions struct {
	// From is the first stream position read (inclusive); 1 when not given.
	From int64
	// To is the last stream position read (inclusive); 0 means no bound.
	To int64
	// MaxCount bounds the number of events read; 0 means no bound.
	MaxCount int64
	// Partition restricts the read to one partition. For a stream read the
	// default is DefaultPartition; for ReadAll, "" reads every partition.
	Partition string
}

// NewAppendOptions resolves opts.
func NewAppendOptions(opts ...AppendOption) AppendOptions {
	o := AppendOptions{Partition: DefaultPartition}
	for _, opt := range opts {
		if opt != nil {
			opt.applyAppend(&o)
		}
	}
	return o
}

// NewReadOptions resolves opts for a stream read.
func NewReadOptions(opts ...ReadOption) ReadOptions {
	o := ReadOptions{From: 1, Partition: DefaultPartition}
	for _, opt := range opts {
		if opt != nil {
			opt.applyRead(&o)
		}
	}
	if o.From < 1 {
		o.From = 1
	}
	return o
}

// NewReadAllOptions resolves opts for a read of the global log, where no
// partition means every partition.
func NewReadAllOptions(opts ...ReadOption) ReadOptions {
	o := ReadOptions{}
	for _, opt := range opts {
		if opt != nil {
			opt.applyRead(&o)
		}
	}
	return o
}

// Partition names a partition (a tenant or a module) of a store.
type Partition string

// InPartition makes an append or a read use the given partition.
func InPartition(name string) Partition { return Partition(name) }

func (p Partition) applyAppend(o *AppendOptions) { o.Partition = string(p) }
func (p Partition) applyRead(o *ReadOptions)     { o.Partition = string(p) }

type readOption func(*ReadOptions)

func (f readOption) applyRead(o *ReadOptions) { f(o) }

// FromVersion starts a stream read at stream position v (inclusive).
func FromVersion(v int64) ReadOption { return readOption(func(o *ReadOptions) { o.From = v }) }

// ToVersion ends a stream read at stream position v (inclusive).
func ToVersion(v int64) ReadOption { return readOption(func(o *ReadOptions) { o.To = v }) }

// MaxCount reads at most n events.
func MaxCount(n int64) ReadOption { return readOption(func(o *ReadOptions) { o.MaxCount = n }) }
