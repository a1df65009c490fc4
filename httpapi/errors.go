package httpapi

import (
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/emmett"
)

// Where an InputError was found.
const (
	InBody   = "body"
	InHeader = "header"
	InQuery  = "query"
	InPath   = "path"
)

// InputError reports malformed request input: a body that is not the JSON
// expected, a bad header, or a bad query or path parameter. It matches
// emmett.ErrValidation and is answered 400 Bad Request, with "in" and "name"
// extensions saying where the problem is.
//
// Request decoders of a command endpoint may return InputErrors of their own
// for the parameters they parse.
type InputError struct {
	// In is where the input is: InBody, InHeader, InQuery or InPath.
	In string
	// Name is the header or parameter name; for a body, the JSON field
	// when it is known.
	Name string
	// Value is the offending value of a header or parameter. It appears in
	// Error, not in the response.
	Value string
	// Reason says what is wrong, for the client to read.
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

// Error says where the input is and what is wrong with it.
func (e *InputError) Error() string {
	var where string
	switch {
	case e.In == InBody && e.Name != "":
		where = fmt.Sprintf("request body, field %q", e.Name)
	case e.In == InBody:
		where = "request body"
	case e.Name != "":
		where = fmt.Sprintf("%s %s %q", e.In, e.Name, truncate(e.Value, 64))
	default:
		where = e.In
	}
	return "httpapi: invalid " + where + ": " + e.Reason
}

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// Is reports whether target is emmett.ErrValidation.
func (e *InputError) Is(target error) bool { return target == emmett.ErrValidation }

// detail is the client-facing message.
func (e *InputError) detail() string {
	switch {
	case e.In == InBody && e.Name != "":
		return fmt.Sprintf("request body, field %q: %s", e.Name, e.Reason)
	case e.In == InBody:
		return "request body: " + e.Reason
	case e.In == InHeader:
		return fmt.Sprintf("%s header: %s", e.Name, e.Reason)
	case e.Name != "":
		return fmt.Sprintf("%s parameter %q: %s", e.In, e.Name, e.Reason)
	}
	return e.Reason
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var (
	// ErrUnauthorized is answered 401 Unauthorized: the request does not
	// say who makes it, or not credibly. An Authorizer returns it (or
	// wraps it) for anonymous requests.
	ErrUnauthorized = errors.New("httpapi: unauthorized")
	// ErrForbidden is answered 403 Forbidden: the client is known and may
	// not do what it asks. An Authorizer error that matches neither
	// ErrUnauthorized nor a *Problem is treated as ErrForbidden.
	ErrForbidden = errors.New("httpapi: forbidden")
	// ErrUnsupportedMediaType is answered 415 Unsupported Media Type: a
	// request body whose Content-Type is not JSON.
	ErrUnsupportedMediaType = errors.New("httpapi: unsupported media type")
)

// AccessError is the error of a request its Authorizer refused. It matches
// ErrForbidden (and ErrUnauthorized when its cause does), and unwraps to the
// Authorizer's error.
type AccessError struct {
	// Action is what was refused.
	Action Action
	// Err is the Authorizer's error.
	Err error
}

// Error names the refused action and the Authorizer's reason.
func (e *AccessError) Error() string {
	return fmt.Sprintf("httpapi: access denied: %s: %v", e.Action, e.Err)
}

// Unwrap returns the Authorizer's error.
func (e *AccessError) Unwrap() error { return e.Err }

// Is reports whether target is ErrForbidden.
func (e *AccessError) Is(target error) bool { return target == ErrForbidden }
