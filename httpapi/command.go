package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// CommandHandler handles commands of type C on streams whose state is S and
// whose events are E. A *command.DeciderHandler[S, C, E] is one; so is a
// *command.Handler[S, E], with decision functions func(S) ([]E, error) as
// its commands.
type CommandHandler[S, C, E any] interface {
	// Handle runs cmd on stream, with the expected version and the other
	// options the endpoint passes, and returns the command's result.
	Handle(ctx context.Context, stream string, cmd C, opts ...eventstore.AppendOption) (command.Result[S, E], error)
}

// CommandRequest is what a command endpoint makes of an HTTP request: the
// stream the command is for, the command, and options for the handler.
type CommandRequest[C any] struct {
	// Stream is the name of the stream the command runs on.
	Stream string
	// Command is the command.
	Command C
	// Options configure the handling: metadata, partition, or a default
	// expected version. An If-Match or If-None-Match header of the request
	// overrides an expected version given here.
	Options []eventstore.AppendOption
}

// CommandResponse is the default response body of a command endpoint.
type CommandResponse struct {
	// NextExpectedVersion is the stream's version after the command; the
	// ETag header carries it too.
	NextExpectedVersion int64 `json:"nextExpectedVersion"`
	// Position is the global position of the last new event, to wait for
	// before reading an asynchronous read model; empty when the command
	// appended nothing.
	Position string `json:"position,omitempty"`
}

type commandConfig struct {
	config
	noContent bool
	respond   any // func(http.ResponseWriter, *http.Request, command.Result[S, E]) error
}

type commandOption func(*commandConfig)

func (o commandOption) applyCommand(c *commandConfig) { o(c) }

// NoContent makes a command endpoint answer 204 No Content (with the ETag)
// instead of the default response.
func NoContent() CommandOption {
	return commandOption(func(c *commandConfig) { c.noContent = true })
}

// RespondWith makes a command endpoint answer a handled command with
// respond, for a response of the application's own (a Location header, the
// new state, a read model). The ETag header is already set when respond is
// called. An error that respond returns before writing anything is answered
// as a problem; after, it is only logged.
//
// S and E must be the state and event types of the endpoint's handler:
// Command panics otherwise.
func RespondWith[S, E any](respond func(w http.ResponseWriter, r *http.Request, res command.Result[S, E]) error) CommandOption {
	return commandOption(func(c *commandConfig) { c.respond = respond })
}

// Command returns an endpoint that runs commands through h. For each request
// it:
//
//  1. limits the request body (see WithMaxBodyBytes);
//  2. asks the Authorizer, if any (see WithAuthorizer), about the request
//     alone: an OpCommand action on no stream, so that a refused request
//     is never decoded;
//  3. reads the expected version from the If-Match and If-None-Match headers
//     (see Precondition);
//  4. calls decode to turn the request into a stream, a command and handle
//     options (DecodeJSON and r.PathValue help);
//  5. asks the Authorizer again, about the OpCommand action on the stream
//     decode named;
//  6. handles the command with the expected version and, when the request
//     has an Idempotency-Key header (IETF draft), under that key: a request
//     repeated with the key (a retry after a timeout) gets the first one's
//     answer, and its events are stored once; the key reused with another
//     request (method, path or body) is answered 422;
//  7. answers with the ETag of the stream's new version and, by default,
//     201 Created when the command created the stream, else 200 OK, with
//     a CommandResponse body (see NoContent and RespondWith for others).
//
// Any error is answered as problem details (see Problems): a malformed
// header or body 400, a business rule 403, a version conflict 412 when the
// request sent If-Match or If-None-Match and 409 when it sent neither (the
// handler's retries ran out on a busy stream), and so on. decode may return errors of its own, *Problem and *InputError
// included.
//
// Typical use, on a ServeMux:
//
//	mux.Handle("POST /carts/{id}/items", httpapi.Command(carts,
//		func(r *http.Request) (httpapi.CommandRequest[Command], error) {
//			var body AddItem
//			if err := httpapi.DecodeJSON(r, &body); err != nil {
//				return httpapi.CommandRequest[Command]{}, err
//			}
//			id := r.PathValue("id")
//			return httpapi.CommandRequest[Command]{Stream: "cart-" + id, Command: AddItemToCart{CartID: id, Item: body.Item}}, nil
//		}))
func Command[S, C, E any](h CommandHandler[S, C, E], decode func(r *http.Request) (CommandRequest[C], error), opts ...CommandOption) http.Handler {
	var cfg commandConfig
	for _, o := range opts {
		if o != nil {
			o.applyCommand(&cfg)
		}
	}
	ep := &commandEndpoint[S, C, E]{handler: h, decode: decode, cfg: cfg}
	if cfg.respond != nil {
		fn, ok := cfg.respond.(func(http.ResponseWriter, *http.Request, command.Result[S, E]) error)
		if !ok {
			panic(fmt.Sprintf("httpapi.Command: RespondWith takes a %s, the handler gives a command.Result[%s, %s]",
				reflect.TypeOf(cfg.respond).In(2), reflect.TypeFor[S](), reflect.TypeFor[E]()))
		}
		ep.respond = fn
	}
	return ep
}

type commandEndpoint[S, C, E any] struct {
	handler CommandHandler[S, C, E]
	decode  func(*http.Request) (CommandRequest[C], error)
	respond func(http.ResponseWriter, *http.Request, command.Result[S, E]) error
	cfg     commandConfig
}

func (ep *commandEndpoint[S, C, E]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	problems := ep.cfg.problems
	if err := limit(w, r, ep.cfg.maxBodyBytes); err != nil {
		problems.WriteError(w, r, err)
		return
	}
	// Authorize before decode, which may read (read models, other
	// services), and again once the stream is known.
	if err := authorize(ep.cfg.authorize, r, Action{Op: OpReceiveCommand}); err != nil {
		problems.WriteError(w, r, err)
		return
	}
	expected, err := Precondition(r)
	if err != nil {
		problems.WriteError(w, r, err)
		return
	}
	key, fingerprint, err := idempotencyKey(r)
	if err != nil {
		problems.WriteError(w, r, err)
		return
	}
	req, err := ep.decode(r)
	if err == nil && fingerprint != nil {
		err = fingerprint.finish()
	}
	if err == nil && req.Stream == "" {
		err = &eventstore.InvalidStreamNameError{Name: "", Reason: "the request names no stream"}
	}
	if err != nil {
		problems.WriteError(w, r, err)
		return
	}
	if err := authorize(ep.cfg.authorize, r, Action{Op: OpCommand, Stream: req.Stream}); err != nil {
		problems.WriteError(w, r, err)
		return
	}
	handleOpts := req.Options[:len(req.Options):len(req.Options)]
	if !expected.IsAny() {
		handleOpts = append(handleOpts, expected)
	}
	if key != "" {
		handleOpts = append(handleOpts, eventstore.WithIdempotencyKey(key),
			eventstore.WithMetadata(emmett.Metadata{Fields: map[string]any{requestHashField: fingerprint.sum()}}))
	}
	res, err := ep.handler.Handle(r.Context(), req.Stream, req.Command, handleOpts...)
	if err == nil && res.Duplicate && len(res.Events) > 0 && res.Events[0].Metadata.Fields[requestHashField] != fingerprint.sum() {
		err = &Problem{Status: http.StatusUnprocessableEntity, Title: "Idempotency key reused",
			Detail: "the Idempotency-Key was used for another request (another body or path): use a new key for a new request"}
	}
	if err != nil {
		problems.WriteError(w, r, err)
		return
	}
	w.Header().Set("ETag", ETag(res.NextExpectedVersion))
	switch {
	case ep.respond != nil:
		tw := &trackingWriter{ResponseWriter: w}
		if err := ep.respond(tw, r, res); err != nil {
			if tw.wrote {
				problems.log(r, err, http.StatusInternalServerError, "")
				return
			}
			problems.WriteError(w, r, err)
		}
	case ep.cfg.noContent:
		w.WriteHeader(http.StatusNoContent)
	default:
		status := http.StatusOK
		if res.Created {
			status = http.StatusCreated
		}
		body := CommandResponse{NextExpectedVersion: res.NextExpectedVersion}
		if !res.Position.IsZero() {
			body.Position = res.Position.String()
		}
		_ = WriteJSON(w, status, body)
	}
}

// trackingWriter records whether anything was written.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
