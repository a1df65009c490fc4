package wasm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// Errors of calls into a module; a *CallError matches one of them with
// errors.Is.
var (
	// ErrTrap is matched when the module trapped: a WebAssembly trap
	// (unreachable, an out-of-bounds access, a stack overflow), a Go panic
	// or fatal error, or an exit. The instance is discarded.
	ErrTrap = errors.New("wasm: module trapped")
	// ErrMemoryLimit is matched when the module trapped having run out of
	// memory under the limit (WithMemoryLimit). It also matches ErrTrap.
	ErrMemoryLimit = errors.New("wasm: module ran out of memory")
	// ErrTimeout is matched when a call ran longer than the call timeout
	// (WithCallTimeout): the instance was stopped and discarded.
	ErrTimeout = errors.New("wasm: call timed out")
	// ErrMalformedResult is matched when a module returned something that
	// is not a valid result of the ABI: not JSON, the wrong shape, out of
	// its memory. The instance is discarded.
	ErrMalformedResult = errors.New("wasm: malformed result")
	// ErrGuest is matched when the module reported an error of its own
	// (a result {"error": "..."}).
	ErrGuest = errors.New("wasm: module reported an error")
	// ErrABI is matched when a module does not follow the ABI: a missing
	// export or a wrong signature, imports the host does not provide, or
	// another ABI version.
	ErrABI = errors.New("wasm: module does not implement the Emmett ABI")
	// ErrClosed is matched by calls on a closed Module.
	ErrClosed = errors.New("wasm: module closed")
)

// CallError reports a failed call into a module. It matches its Kind (one
// of the errors above, or the context's error when the caller's context
// ended) and unwraps to the runtime's error.
type CallError struct {
	// Module is the module's name.
	Module string
	// Function is the export called, such as "emmett_evolve".
	Function string
	// Kind is ErrTrap, ErrMemoryLimit, ErrTimeout, ErrMalformedResult,
	// ErrGuest, or the caller's context error.
	Kind error
	// Detail is what is known of the cause: the guest's message, what it
	// wrote to stderr before it trapped (a Go panic's message), or the
	// malformed result.
	Detail string
	// Err is the runtime's error, if any.
	Err error
}

// Error describes the failure: the module, the export and what happened.
func (e *CallError) Error() string {
	var what string
	switch e.Kind {
	case ErrTrap:
		what = "trapped"
	case ErrMemoryLimit:
		what = "ran out of memory"
	case ErrTimeout:
		what = "timed out"
	case ErrMalformedResult:
		what = "returned a malformed result"
	case ErrGuest:
		what = "failed"
	default:
		what = fmt.Sprintf("stopped (%v)", e.Kind)
	}
	msg := fmt.Sprintf("wasm module %q: %s %s", e.Module, e.Function, what)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is reports whether target is the error's kind (a memory error is also a
// trap).
func (e *CallError) Is(target error) bool {
	return target == e.Kind || (e.Kind == ErrMemoryLimit && target == ErrTrap)
}

// Unwrap returns the kind and the runtime's error.
func (e *CallError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// TransformError reports an event that a transformation failed on.
type TransformError struct {
	// Module is the module's name.
	Module string
	// Event is the event being transformed; before an append it has no
	// positions yet.
	Event emmett.RecordedEvent
	// Index is the event's index in the events of an append, or -1 when
	// the event was being read.
	Index int
	// Err is the cause: a *CallError, or the error decoding the result.
	Err error
}

// Error names the module, the event and its position, and the cause.
func (e *TransformError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("wasm transform %q: event %d (%q) appended to stream %q: %v",
			e.Module, e.Index, e.Event.Type, e.Event.StreamName, e.Err)
	}
	return fmt.Sprintf("wasm transform %q: event %q at %s (stream %q position %d): %v",
		e.Module, e.Event.Type, eventstore.PositionOf(e.Event), e.Event.StreamName, e.Event.StreamPosition, e.Err)
}

// Unwrap returns the cause.
func (e *TransformError) Unwrap() error { return e.Err }

// Position returns the global position of the event (zero before it is
// appended).
func (e *TransformError) Position() eventstore.Position { return eventstore.PositionOf(e.Event) }

// excerpt shortens s to a one-line excerpt of at most n bytes.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// panicMessage returns the useful part of what a guest wrote to stderr
// before trapping: up to the first blank line, where a Go runtime starts
// its goroutine dump.
func panicMessage(stderr string) string {
	if i := strings.Index(stderr, "\n\n"); i >= 0 {
		stderr = stderr[:i]
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return excerpt(strings.Join(lines, "; "), 500)
}
