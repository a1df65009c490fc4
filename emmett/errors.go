package emmett

import (
	"errors"
	"fmt"
)

// ErrUnknownEventType is matched (with errors.Is) by the error returned when
// a registry does not know an event's type: a stored event's type name when
// decoding, or a Go value's type when encoding.
var ErrUnknownEventType = errors.New("emmett: unknown event type")

// ErrMalformedEvent is matched by the error returned when stored event data
// cannot be decoded into its registered Go type.
var ErrMalformedEvent = errors.New("emmett: malformed event data")

// UnknownEventTypeError reports an event type missing from a registry: a
// type name when decoding, a Go type when encoding.
type UnknownEventTypeError struct {
	// Type is the type name that was not found (when decoding).
	Type string
	// GoType is the Go type of the value, as fmt's %T prints it (when
	// encoding).
	GoType string
	// Known lists the type names the registry does know, for the message.
	Known []string
}

// Error names the unknown type and the registered ones.
func (e *UnknownEventTypeError) Error() string {
	if e.GoType != "" {
		return fmt.Sprintf("emmett: unknown event type: Go type %s is not registered (registered: %v)", e.GoType, e.Known)
	}
	return fmt.Sprintf("emmett: unknown event type %q (registered: %v)", e.Type, e.Known)
}

// Is reports whether target is ErrUnknownEventType.
func (e *UnknownEventTypeError) Is(target error) bool { return target == ErrUnknownEventType }

// DecodeError reports stored data that does not decode into its registered
// Go type. It unwraps to the JSON error and matches ErrMalformedEvent.
type DecodeError struct {
	// Type is the stored type name of the event.
	Type string
	// Err is the JSON decoding error.
	Err error
}

// Error names the event type and the decoding error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("emmett: decoding event of type %q: %v", e.Type, e.Err)
}

// Unwrap returns the underlying decoding error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformedEvent.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformedEvent }

// Domain error kinds. A domain wraps them in its own errors, for example
//
//	var ErrCartClosed = fmt.Errorf("%w: shopping cart is closed", emmett.ErrIllegalState)
//
// so that generic layers (the HTTP glue maps them to 400, 403 and 404, its
// problem details without the "emmett: " prefix) can tell a rejected
// command from a failure without knowing the domain.
var (
	// ErrValidation marks a command or input that is malformed or invalid
	// in itself, whatever the state.
	ErrValidation = errors.New("emmett: validation failed")
	// ErrIllegalState marks a command that a business rule forbids in the
	// current state.
	ErrIllegalState = errors.New("emmett: illegal state")
	// ErrNotFound marks a command or query about something that does not
	// exist.
	ErrNotFound = errors.New("emmett: not found")
)
