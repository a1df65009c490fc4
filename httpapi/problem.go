package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/emmett-go/emmett/projection"
	"github.com/google/uuid"
)

// ProblemContentType is the media type of a problem details document.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details document: what this package answers
// for every error.
//
// A *Problem is also an error: a handler or request decoder may return one
// to have it answered as it is.
type Problem struct {
	// Type is a URI reference identifying the problem type; "about:blank"
	// (the default) means the problem is no more than its HTTP status.
	Type string
	// Title is a short summary of the problem type; for "about:blank",
	// the status text ("Not Found").
	Title string
	// Status is the HTTP status code.
	Status int
	// Detail explains this occurrence of the problem, for the client.
	Detail string
	// Instance is a URI reference identifying this occurrence; the
	// request's path (as the client sent it) by default.
	Instance string
	// Extensions are further members of the document. A key that is one of
	// the standard members above is ignored.
	Extensions map[string]any
}

// Error returns the status, title and detail.
func (p *Problem) Error() string {
	s := strconv.Itoa(p.Status) + " " + p.title()
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

func (p *Problem) title() string {
	if p.Title != "" {
		return p.Title
	}
	return http.StatusText(p.Status)
}

var standardMembers = []string{"type", "title", "status", "detail", "instance"}

// MarshalJSON encodes p as one JSON object: the standard members first, then
// the extensions in key order. Empty standard members are left out.
func (p *Problem) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	member := func(key string, value any) error {
		data, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("httpapi: encoding problem member %q: %w", key, err)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(data)
		return nil
	}
	for _, m := range []struct {
		key   string
		value any
		skip  bool
	}{
		{"type", p.Type, p.Type == ""},
		{"title", p.Title, p.Title == ""},
		{"status", p.Status, p.Status == 0},
		{"detail", p.Detail, p.Detail == ""},
		{"instance", p.Instance, p.Instance == ""},
	} {
		if !m.skip {
			if err := member(m.key, m.value); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Extensions)) {
		if slices.Contains(standardMembers, k) {
			continue
		}
		if err := member(k, p.Extensions[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON decodes a problem details document; members other than the
// standard ones go to Extensions. A standard member of the wrong JSON type is
// ignored, as RFC 9457 asks of consumers.
func (p *Problem) UnmarshalJSON(data []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	*p = Problem{}
	_ = json.Unmarshal(obj["type"], &p.Type)
	_ = json.Unmarshal(obj["title"], &p.Title)
	_ = json.Unmarshal(obj["status"], &p.Status)
	_ = json.Unmarshal(obj["detail"], &p.Detail)
	_ = json.Unmarshal(obj["instance"], &p.Instance)
	for k, raw := range obj {
		if slices.Contains(standardMembers, k) {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if p.Extensions == nil {
			p.Extensions = make(map[string]any)
		}
		p.Extensions[k] = v
	}
	return nil
}

// WriteProblem writes p as the response, with the application/problem+json
// content type and p.Status (500 when it is not a valid status).
func WriteProblem(w http.ResponseWriter, p *Problem) {
	status := p.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	body, err := json.Marshal(p)
	if err != nil {
		// An extension does not encode; answer without extensions.
		q := *p
		q.Extensions = nil
		body, _ = json.Marshal(&q)
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// An ErrorMapper turns the errors it knows into problems, and returns nil
// for the others. Problems tries its mappers before its built-in mapping.
// A mapper may leave Title and Instance empty: they are filled in.
type ErrorMapper func(err error) *Problem

// MapError returns an ErrorMapper answering errors that match target (by
// errors.Is) with status, and the error's message as the detail.
func MapError(target error, status int) ErrorMapper {
	return func(err error) *Problem {
		if errors.Is(err, target) {
			return &Problem{Status: status, Detail: trimPrefix(err)}
		}
		return nil
	}
}

// MapErrorAs returns an ErrorMapper answering errors that errors.As finds
// an E in with the problem toProblem makes of it (nil to let other mappers
// try).
func MapErrorAs[E error](toProblem func(E) *Problem) ErrorMapper {
	return func(err error) *Problem {
		if e, ok := errors.AsType[E](err); ok {
			return toProblem(e)
		}
		return nil
	}
}

// Problems turns errors into problem details, logs them and writes them. Its
// zero value (and a nil *Problems) uses the built-in mapping and logs
// server errors through slog.Default.
//
// The built-in mapping answers:
//
//   - a *Problem (found by errors.As) as it is;
//   - 400 Bad Request for malformed input (*InputError) and validation
//     errors (emmett.ErrValidation), invalid stream names and events,
//     appends of no events, and document ids and query conditions no
//     document can match (projection.ErrInvalidDocument,
//     projection.ErrInvalidCondition: text that is not valid UTF-8 or
//     holds NUL, from a request's path, say);
//   - 401 Unauthorized for ErrUnauthorized, 403 Forbidden for ErrForbidden
//     (refused by an Authorizer) and business rules (emmett.ErrIllegalState);
//   - 404 Not Found for emmett.ErrNotFound and eventstore.ErrStreamNotFound;
//   - for eventstore.ErrVersionConflict, 412 Precondition Failed, with the
//     expectedVersion and actualVersion extensions, when the request has a
//     precondition (If-Match or If-None-Match): the client's own
//     condition failed; 409 Conflict when it has none: the stream changed
//     while the request was handled, more often than the command
//     handler's retries could make up for (see command.WithRetry), and
//     the same request may succeed if sent again;
//   - 413 Content Too Large for a body over its limit (*http.MaxBytesError)
//     and an event over the store's (eventstore.ErrEventTooLarge);
//   - 415 Unsupported Media Type for ErrUnsupportedMediaType;
//   - 503 Service Unavailable for a closed store and a cancelled or timed
//     out request;
//   - 500 Internal Server Error for anything else, with a generic detail
//     and an errorId extension that is logged with the real error, so that
//     nothing internal leaks to the client.
type Problems struct {
	// Mappers are tried in order before the built-in mapping; the first
	// problem returned wins.
	Mappers []ErrorMapper
	// Logger receives every error answered with a 5xx status, at level
	// Error, and the others at level Debug. When nil, slog.Default is used
	// for 5xx errors only: nothing below Warn is logged. Records carry the
	// trace and span ids of the request's span, if any (see
	// telemetry.NewLogHandler).
	Logger *slog.Logger
}

// Problem returns the problem details for err, answering r.
func (ps *Problems) Problem(r *http.Request, err error) *Problem {
	p, _ := ps.problem(r, err)
	return p
}

func (ps *Problems) problem(r *http.Request, err error) (p *Problem, errorID string) {
	if ps != nil {
		for _, m := range ps.Mappers {
			if p = m(err); p != nil {
				break
			}
		}
	}
	if p == nil {
		p = builtinProblem(r, err)
	}
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Instance == "" && r != nil && r.URL != nil {
		p.Instance = requestPath(r)
	}
	if p.Status >= 500 {
		errorID = uuid.NewString()
		p.Extensions = maps.Clone(p.Extensions)
		if p.Extensions == nil {
			p.Extensions = make(map[string]any, 1)
		}
		p.Extensions["errorId"] = errorID
	}
	return p, errorID
}

// WriteError answers r with the problem details for err, and logs err.
func (ps *Problems) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	p, errorID := ps.problem(r, err)
	ps.log(r, err, p.Status, errorID)
	WriteProblem(w, p)
}

// log logs an error answered with status.
func (ps *Problems) log(r *http.Request, err error, status int, errorID string) {
	var logger *slog.Logger
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
	}
	if ps != nil && ps.Logger != nil {
		logger = ps.Logger
	} else if level >= slog.LevelWarn {
		logger = slog.Default()
	} else {
		return
	}
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	if !logger.Enabled(ctx, level) {
		return
	}
	logger = instrument.WithTraceIDs(logger)
	attrs := []slog.Attr{slog.Int("status", status), slog.String("error", err.Error())}
	if r != nil {
		attrs = append(attrs, slog.String("method", r.Method), slog.String("path", r.URL.Path))
	}
	if errorID != "" {
		attrs = append(attrs, slog.String("errorId", errorID))
	}
	logger.LogAttrs(ctx, level, "httpapi: request failed", attrs...)
}

// builtinProblem is the built-in mapping of an error answering r (nil
// when unknown); see Problems.
func builtinProblem(r *http.Request, err error) *Problem {
	if p, ok := errors.AsType[*Problem](err); ok {
		q := *p
		return &q
	}
	if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &Problem{Status: http.StatusRequestEntityTooLarge,
			Detail:     fmt.Sprintf("the request body is larger than the limit of %d bytes", e.Limit),
			Extensions: map[string]any{"limit": e.Limit}}
	}
	if errors.Is(err, ErrUnauthorized) {
		return &Problem{Status: http.StatusUnauthorized, Detail: "the request needs valid credentials"}
	}
	if e, ok := errors.AsType[*AccessError](err); ok {
		return &Problem{Status: http.StatusForbidden, Detail: "not allowed to " + e.Action.String()}
	}
	if errors.Is(err, ErrForbidden) {
		return &Problem{Status: http.StatusForbidden, Detail: "not allowed"}
	}
	if errors.Is(err, ErrUnsupportedMediaType) {
		return &Problem{Status: http.StatusUnsupportedMediaType, Detail: "the request body must be JSON (Content-Type: application/json)"}
	}
	if e, ok := errors.AsType[*InputError](err); ok {
		ext := map[string]any{"in": e.In}
		if e.Name != "" {
			ext["name"] = e.Name
		}
		return &Problem{Status: http.StatusBadRequest, Detail: e.detail(), Extensions: ext}
	}
	if errors.Is(err, eventstore.ErrVersionConflict) && r != nil && !hasPrecondition(r) {
		return &Problem{Status: http.StatusConflict,
			Detail: "the stream was changed by other requests while this one was handled; it may succeed if sent again"}
	}
	if e, ok := errors.AsType[*eventstore.VersionConflictError](err); ok {
		var expected any = e.Expected.String()
		if v, exact := e.Expected.Exact(); exact {
			expected = v
		}
		return &Problem{Status: http.StatusPreconditionFailed,
			Detail:     fmt.Sprintf("the stream is at version %d, the request expected %s", e.Actual, e.Expected),
			Extensions: map[string]any{"expectedVersion": expected, "actualVersion": e.Actual}}
	}
	if errors.Is(err, eventstore.ErrVersionConflict) {
		return &Problem{Status: http.StatusPreconditionFailed, Detail: "the stream is not at the version the request expected"}
	}
	if errors.Is(err, eventstore.ErrEventTooLarge) {
		return &Problem{Status: http.StatusRequestEntityTooLarge, Detail: trimPrefix(err)}
	}
	if errors.Is(err, eventstore.ErrInvalidStreamName) || errors.Is(err, eventstore.ErrInvalidEvent) ||
		errors.Is(err, eventstore.ErrNoEvents) || errors.Is(err, emmett.ErrValidation) ||
		errors.Is(err, projection.ErrInvalidDocument) || errors.Is(err, projection.ErrInvalidCondition) {
		return &Problem{Status: http.StatusBadRequest, Detail: trimPrefix(err)}
	}
	if errors.Is(err, eventstore.ErrStreamNotFound) || errors.Is(err, emmett.ErrNotFound) {
		return &Problem{Status: http.StatusNotFound, Detail: trimPrefix(err)}
	}
	if errors.Is(err, emmett.ErrIllegalState) {
		return &Problem{Status: http.StatusForbidden, Detail: trimPrefix(err)}
	}
	if errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Problem{Status: http.StatusServiceUnavailable, Detail: "the service is unavailable; try again later"}
	}
	return &Problem{Status: http.StatusInternalServerError, Detail: "the server failed to handle the request"}
}

// hasPrecondition reports whether r makes itself conditional on the
// stream's version, with If-Match or If-None-Match (see Precondition).
func hasPrecondition(r *http.Request) bool {
	_, hasMatch := headerList(r.Header, "If-Match")
	_, hasNoneMatch := headerList(r.Header, "If-None-Match")
	return hasMatch || hasNoneMatch
}

// trimPrefix drops the package prefix ("eventstore: ", ...) of an error's
// message.
func trimPrefix(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"emmett: ", "eventstore: ", "projection: ", "httpapi: "} {
		if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
			return msg[len(prefix):]
		}
	}
	return msg
}
