package httpapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Operation is what a request to the event streaming endpoints does.
type Operation string

// The operations of the event streaming endpoints.
const (
	// OpRead reads a page of events.
	OpRead Operation = "read"
	// OpAppend appends events to a stream.
	OpAppend Operation = "append"
	// OpSubscribe follows events live, as Server-Sent Events.
	OpSubscribe Operation = "subscribe"
	// OpCommand runs a command on a stream, through a command endpoint,
	// once its request is decoded: the action names the stream.
	OpCommand Operation = "command"
	// OpReceiveCommand is a request to a command endpoint before it is
	// decoded: no stream is known yet, the request alone (its
	// credentials, r.Pattern, r.PathValue) can decide. See WithAuthorizer.
	OpReceiveCommand Operation = "receive_command"
)

// Action is what a request asks to do, for an Authorizer to decide on: an
// operation on one stream, on the streams of one category, or on the whole
// log.
type Action struct {
	// Op is the operation.
	Op Operation
	// Stream is the stream operated on, or "": for the whole log, a
	// category, or OpReceiveCommand.
	Stream string
	// Category is the stream category (see eventstore.StreamType)
	// operated on, or "".
	Category string
}

// All reports whether a applies to the whole log: neither a stream nor a
// category (OpReceiveCommand does not: it is about one request).
func (a Action) All() bool { return a.Op != OpReceiveCommand && a.Stream == "" && a.Category == "" }

// String describes a: "read stream \"cart-1\"", "subscribe to category
// \"cart\"", "read all events", "run a command" (OpReceiveCommand).
func (a Action) String() string {
	if a.Op == OpReceiveCommand {
		return "run a command"
	}
	verb := string(a.Op)
	switch a.Op {
	case OpAppend:
		verb = "append to"
	case OpSubscribe:
		verb = "subscribe to"
	case OpCommand:
		verb = "run a command on"
	}
	switch {
	case a.Stream != "":
		return fmt.Sprintf("%s stream %q", verb, a.Stream)
	case a.Category != "":
		return fmt.Sprintf("%s category %q", verb, a.Category)
	}
	if a.Op == OpRead {
		return "read all events"
	}
	return verb + " all events"
}

// An Authorizer decides whether a request may do an action: it returns nil
// to allow it, or an error to refuse it. The error is answered 401 when it
// matches ErrUnauthorized, as it is when it is a *Problem, and 403 Forbidden
// otherwise; the client never sees its message.
//
// An Authorizer runs before anything is read or written, on every request
// to the event streaming endpoints and the command endpoints (twice on
// these: see WithAuthorizer).
type Authorizer func(r *http.Request, action Action) error

// authorize runs an Authorizer and wraps its refusal in an *AccessError.
func authorize(auth Authorizer, r *http.Request, a Action) error {
	if auth == nil {
		return nil
	}
	err := auth(r, a)
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*Problem](err); ok {
		return err
	}
	return &AccessError{Action: a, Err: err}
}
