package eventstore

import (
	"strconv"

	"github.com/emmett-go/emmett/emmett"
	"github.com/google/uuid"
)

// DefaultPartition is the partition streams live in unless told otherwise;
// the name is the one Emmett for Node uses.
const DefaultPartition = "emt:default"

// AppendOption configures one append: an ExpectedVersion (ExpectVersion,
// ExpectNoStream, ExpectStreamExists, ExpectAny), InPartition,
// WithMetadata or WithIdempotencyKey. Backends resolve a list of them with
// backend.ResolveAppend.
type AppendOption interface {
	// ApplyToAppend sets what the option configures.
	ApplyToAppend(*AppendOptions)
}

// ReadOption configures one read: FromVersion, ToVersion, MaxCount or
// InPartition. Backends resolve a list of them with backend.ResolveRead or
// backend.ResolveReadAll.
type ReadOption interface {
	// ApplyToRead sets what the option configures.
	ApplyToRead(*ReadOptions)
}

// AppendOptions is what the AppendOptions of one append set.
type AppendOptions struct {
	// ExpectedVersion is the condition on the stream's version.
	ExpectedVersion ExpectedVersion
	// Partition is the partition (tenant or module) of the stream;
	// DefaultPartition when not given.
	Partition string
	// Metadata is given to every appended event, under the event's own:
	// the event's correlation and causation ids and fields win.
	Metadata emmett.Metadata
	// IdempotencyKey, when set, derives the message id of each event
	// without one from the key, the stream and the event's index (see
	// IdempotentMessageID).
	IdempotencyKey string
}

// ReadOptions is what the ReadOptions of one read set.
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

// Partition names a partition (a tenant or a module) of a store. It is
// both an AppendOption and a ReadOption.
type Partition string

// InPartition makes an append or a read use the given partition.
func InPartition(name string) Partition { return Partition(name) }

// ApplyToAppend implements AppendOption.
func (p Partition) ApplyToAppend(o *AppendOptions) { o.Partition = string(p) }

// ApplyToRead implements ReadOption.
func (p Partition) ApplyToRead(o *ReadOptions) { o.Partition = string(p) }

type appendOption func(*AppendOptions)

func (f appendOption) ApplyToAppend(o *AppendOptions) { f(o) }

// WithMetadata gives every event of an append the metadata m, under the
// event's own (its correlation and causation ids and fields win). Given
// more than once, the later one's ids and fields win over the earlier's. A
// command handler passes it through to its append.
func WithMetadata(m emmett.Metadata) AppendOption {
	return appendOption(func(o *AppendOptions) { o.Metadata = o.Metadata.Merge(m) })
}

// WithIdempotencyKey makes an append idempotent under key (a client's
// request id): each event without a message id gets one derived from the
// key, the stream and its index in the append (IdempotentMessageID), so
// that the same append repeated with the same key (a retry after a
// timeout, or ErrOutcomeUnknown) has the same ids, and the store returns
// the first one's result (AppendResult.Duplicate) instead of storing the
// events twice.
func WithIdempotencyKey(key string) AppendOption {
	return appendOption(func(o *AppendOptions) { o.IdempotencyKey = key })
}

// idempotencyNamespace is the UUID namespace of the message ids derived
// from idempotency keys.
var idempotencyNamespace = uuid.MustParse("6f0b5a1e-2c1d-4d8e-9a57-3e6f2b9c8d41")

// IdempotentMessageID returns the message id of the event at index i of
// an append to stream under an idempotency key: a name-based UUID (version
// 5) of the three, the same on every call.
func IdempotentMessageID(key, stream string, i int) string {
	return uuid.NewSHA1(idempotencyNamespace, []byte(stream+"\x00"+key+"\x00"+strconv.Itoa(i))).String()
}

type readOption func(*ReadOptions)

func (f readOption) ApplyToRead(o *ReadOptions) { f(o) }

// FromVersion starts a stream read at stream position v (inclusive).
func FromVersion(v int64) ReadOption { return readOption(func(o *ReadOptions) { o.From = v }) }

// ToVersion ends a stream read at stream position v (inclusive).
func ToVersion(v int64) ReadOption { return readOption(func(o *ReadOptions) { o.To = v }) }

// MaxCount reads at most n events.
func MaxCount(n int64) ReadOption { return readOption(func(o *ReadOptions) { o.MaxCount = n }) }
