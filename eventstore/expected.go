package eventstore

import (
	"fmt"
	"strconv"
)

// ExpectedVersion is the condition an append puts on the stream's current
// version. The zero value is ExpectAny: no check.
//
// An ExpectedVersion is also an AppendOption, so it can be passed straight to
// Store.AppendToStream.
type ExpectedVersion struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// ExpectAny appends whatever the stream's version is.
func ExpectAny() ExpectedVersion { return ExpectedVersion{} }

// ExpectNoStream appends only if the stream has no events yet.
func ExpectNoStream() ExpectedVersion { return ExpectedVersion{kind: expectNoStream} }

// ExpectStreamExists appends only if the stream has at least one event.
func ExpectStreamExists() ExpectedVersion { return ExpectedVersion{kind: expectStreamExists} }

// ExpectVersion appends only if the stream's version (the position of its
// last event, 0 before the first) is exactly v. ExpectVersion(0) is the same
// condition as ExpectNoStream. A negative v panics.
func ExpectVersion(v int64) ExpectedVersion {
	if v < 0 {
		panic(fmt.Sprintf("eventstore.ExpectVersion: negative version %d", v))
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// IsAny reports whether e puts no condition on the stream.
func (e ExpectedVersion) IsAny() bool { return e.kind == expectAny }

// IsNoStream reports whether e requires the stream not to exist.
func (e ExpectedVersion) IsNoStream() bool { return e.kind == expectNoStream }

// IsStreamExists reports whether e requires the stream to exist.
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// Exact returns the exact version e requires, and whether e is exact.
func (e ExpectedVersion) Exact() (int64, bool) { return e.version, e.kind == expectExact }

// Matches reports whether a stream at version current (0 for a stream without
// events) satisfies e. Backends enforce this in their own transaction; Matches
// is the one definition of the rule they all follow.
func (e ExpectedVersion) Matches(current int64) bool {
	switch e.kind {
	case expectNoStream:
		return current == 0
	case expectStreamExists:
		return current > 0
	case expectExact:
		return current == e.version
	default:
		return true
	}
}

// String returns "any", "no_stream", "stream_exists" or the exact version.
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no_stream"
	case expectStreamExists:
		return "stream_exists"
	case expectExact:
		return strconv.FormatInt(e.version, 10)
	default:
		return "any"
	}
}

// ApplyToAppend implements AppendOption.
func (e ExpectedVersion) ApplyToAppend(o *AppendOptions) { o.ExpectedVersion = e }
