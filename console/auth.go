package console

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/emmett-go/emmett/httpapi"
)

// Operation is what a request to the console does.
type Operation string

// The console's operations: OpView reads, the others are actions.
const (
	// OpView reads a page or the console's data.
	OpView Operation = "view"
	// OpRetryParked asks for a retry of parked events (Action.Parked, or
	// every one of Action.Processor when 0).
	OpRetryParked Operation = "retry_parked"
	// OpDiscardParked discards a parked event.
	OpDiscardParked Operation = "discard_parked"
	// OpDropVersion drops a retired version of a projection: its read
	// model, checkpoint, parked events and record.
	OpDropVersion Operation = "drop_version"
	// OpActivateVersion makes a retired version of a projection the
	// active one again.
	OpActivateVersion Operation = "activate_version"
	// OpRebuild empties a processor's read model and replays the log into
	// it (projection.Processor.ResetAndRebuild), for the processors given
	// with WithRebuild.
	OpRebuild Operation = "rebuild"
)

// Action is what a request asks of the console, for an Authorizer to
// decide on.
type Action struct {
	// Op is the operation.
	Op Operation
	// Processor is the processor acted on, or "".
	Processor string
	// Parked is the id of the parked event acted on, or 0.
	Parked int64
	// Projection and Version are the projection version acted on.
	Projection string
	Version    int
}

// IsView reports whether a only reads.
func (a Action) IsView() bool { return a.Op == OpView }

// String describes a: "view", "retry parked event 4 of processor p",
// "drop version 1 of projection q".
func (a Action) String() string {
	switch a.Op {
	case OpRetryParked, OpDiscardParked:
		verb := "retry"
		if a.Op == OpDiscardParked {
			verb = "discard"
		}
		what := "every parked event"
		if a.Parked != 0 {
			what = fmt.Sprintf("parked event %d", a.Parked)
		}
		if a.Processor != "" {
			what += " of processor " + a.Processor
		}
		return verb + " " + what
	case OpDropVersion:
		return fmt.Sprintf("drop version %d of projection %s", a.Version, a.Projection)
	case OpActivateVersion:
		return fmt.Sprintf("activate version %d of projection %s", a.Version, a.Projection)
	}
	return string(a.Op)
}

// An Authorizer decides whether a request may do an action, as
// httpapi.Authorizer does for the event endpoints: nil allows it, an error
// refuses it, with 401 when the error matches httpapi.ErrUnauthorized and
// 403 otherwise (the client does not see its text). It runs before
// anything is read or changed.
type Authorizer func(r *http.Request, a Action) error

// authorize returns the status refusing the request and why, or 0.
func (c *Console) authorize(r *http.Request, a Action) (int, string) {
	if c.cfg.auth == nil {
		if a.IsView() {
			return 0, ""
		}
		return http.StatusForbidden, "This console is read-only: actions need an authorizer."
	}
	err := c.cfg.auth(r, a)
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, httpapi.ErrUnauthorized):
		return http.StatusUnauthorized, "Authentication is required to " + a.String() + "."
	}
	return http.StatusForbidden, "You may not " + a.String() + "."
}
