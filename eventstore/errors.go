package eventstore

import (
	"errors"
	"fmt"
)

var (
	// ErrVersionConflict is matched by the error of an append whose expected
	// version does not hold. Use errors.As with *VersionConflictError for
	// the details.
	ErrVersionConflict = errors.New("eventstore: version conflict")
	// ErrInvalidStreamName is matched by the error for a stream name that is
	// empty, too long, not valid UTF-8 or contains NUL.
	ErrInvalidStreamName = errors.New("eventstore: invalid stream name")
	// ErrInvalidEvent is matched by the error for an event that cannot be
	// stored: no type, data or metadata that is not JSON, or too large, or
	// text that not every store can keep (see EventData).
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrEventTooLarge is matched by the error for an event larger than the
	// store's limit. It also matches ErrInvalidEvent.
	ErrEventTooLarge = errors.New("eventstore: event too large")
	// ErrNoEvents is returned for an append of no events.
	ErrNoEvents = errors.New("eventstore: no events to append")
	// ErrDuplicateMismatch is matched by the error of an append some of
	// whose message ids are stored in the stream already, but not as the
	// very same append (the same ids, in order, at consecutive positions):
	// a partial overlap. An exact repeat is not an error (see
	// AppendResult.Duplicate).
	ErrDuplicateMismatch = errors.New("eventstore: message ids stored already by another append")
	// ErrStreamNotFound is matched where a stream must exist and does not.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrPositionNotFound is matched by the error of ResolvePosition for a
	// position at which the store has no event.
	ErrPositionNotFound = errors.New("eventstore: no event at position")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrOutcomeUnknown is matched by the error of a write (an append, a
	// document write, a processor's commit) whose connection was lost
	// while it committed: it may or may not have been stored. Read the
	// stream (or the document, the checkpoint) to find out; do not blindly
	// retry.
	ErrOutcomeUnknown = errors.New("eventstore: write outcome unknown")
	// ErrUnavailable is matched by the error of an operation that failed
	// because the store could not be reached: the connection was refused
	// or lost, the server is shutting down or starting up. Nothing was
	// done (an append whose outcome is unknown matches ErrOutcomeUnknown
	// instead), and the same operation may succeed later. Processors wait
	// for the store and go on by themselves after such an error.
	ErrUnavailable = errors.New("eventstore: store unavailable")
)

// VersionConflictError is the error of an append whose expected version does
// not hold. It matches ErrVersionConflict.
type VersionConflictError struct {
	// Stream is the stream appended to.
	Stream string
	// Expected is the condition the append put on the stream's version.
	Expected ExpectedVersion
	// Actual is the stream's version when the append was tried (0 when the
	// stream has no events).
	Actual int64
}

// Error names the stream and both versions.
func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("eventstore: version conflict on stream %q: expected %s, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is reports whether target is ErrVersionConflict.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// InvalidStreamNameError says why a stream name was refused. It matches
// ErrInvalidStreamName.
type InvalidStreamNameError struct {
	// Name is the refused name.
	Name string
	// Reason says what is wrong with it.
	Reason string
}

// Error quotes the name (cut to 64 bytes) and says why it was refused.
func (e *InvalidStreamNameError) Error() string {
	name := e.Name
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return fmt.Sprintf("eventstore: invalid stream name %q: %s", name, e.Reason)
}

// Is reports whether target is ErrInvalidStreamName.
func (e *InvalidStreamNameError) Is(target error) bool { return target == ErrInvalidStreamName }

// InvalidEventError says which event of an append was refused and why. It
// matches ErrInvalidEvent, and unwraps to the cause (ErrEventTooLarge, a
// JSON syntax error, …).
type InvalidEventError struct {
	// Index is the event's index in the append.
	Index int
	// Type is the event's type name.
	Type string
	// Reason explains the refusal.
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

// Error names the event by index and type and says why it was refused.
func (e *InvalidEventError) Error() string {
	return fmt.Sprintf("eventstore: invalid event %d (type %q): %s", e.Index, e.Type, e.Reason)
}

// Is reports whether target is ErrInvalidEvent.
func (e *InvalidEventError) Is(target error) bool { return target == ErrInvalidEvent }

// Unwrap returns the cause.
func (e *InvalidEventError) Unwrap() error { return e.Err }
