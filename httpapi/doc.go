// Package httpapi is the net/http glue of Emmett: command endpoints with
// optimistic concurrency over ETags, RFC 9457 problem details for every
// error, strict JSON request bodies, and event streaming endpoints (pages,
// live Server-Sent Events with resume, appends) for integration.
//
// It uses net/http alone; its handlers mount on an http.ServeMux with Go
// 1.22 patterns.
//
// # Commands and versions
//
// Command turns a request into a command on a stream and runs it through a
// command handler (command.DeciderHandler or command.Handler). The stream's
// version travels as an entity tag: a response carries the stream's new
// version in its ETag header (W/"3", see ETag), and the client sends it back
// in If-Match to make its next command conditional on it; If-None-Match: *
// makes a command create-only (see Precondition). A stale version is
// answered 412 Precondition Failed.
//
//	carts := command.NewDeciderHandler(store, shoppingcart.Decider(), shoppingcart.Events())
//	mux.Handle("POST /carts/{id}/confirm", httpapi.Command(carts, decodeConfirm, httpapi.NoContent()))
//
// A command sent without If-Match or If-None-Match runs on the stream as it
// is: when another writer appends between its read and its append, the
// command handler reads and decides again (see command.WithRetry). When the
// stream is so busy that the retries run out, the request is answered 409
// Conflict, never 412 (it set no precondition that could fail): sending it
// again may succeed.
//
// # Errors
//
// Every error is answered as problem details (application/problem+json, see
// Problem) with a status that follows from the error: 400 for malformed
// input and emmett.ErrValidation, 403 for emmett.ErrIllegalState, 404 for
// emmett.ErrNotFound and missing streams, 409 or 412 for version conflicts
// (412 when the request's precondition failed), 413 for bodies over the
// limit, 500 for everything else, without leaking it. See
// Problems for the whole mapping, for adding mappings of the application's
// own errors, and for logging. Routes makes a ServeMux answer the requests
// it has no route for (404, 405) as problem details too.
//
// # Request bodies
//
// DecodeJSON decodes a request body strictly: JSON only, limited in size
// (DefaultMaxBodyBytes unless told otherwise), no unknown fields, nothing
// after the value.
//
// # Event streaming
//
// Streams serves a store's events to other services: pages of a stream, of
// a category or of the whole log; live Server-Sent Events that resume from
// Last-Event-ID without losing or repeating an event; and, when the
// application enables it, appends. An Authorizer decides on every request.
// A client resumes with the position it was given, or with an event's bare
// globalPosition, which means the same on every store; a position at which
// the store has no event is answered 400 (see ResolvePosition, which reads
// the positions clients send to an application's own endpoints alike).
//
// # Serving
//
// NewServer returns an http.Server with the timeouts a server open to the
// internet needs, each an option: reading a request's headers (10 seconds),
// reading a whole request, body included (30 seconds: a body sent a byte at
// a time is cut off, answered 408 by DecodeJSON), answering (1 minute from
// the end of the headers) and keeping an idle keep-alive connection (2
// minutes). The live event streams stay open under them for as long as
// their clients read: net/http bounds no read once a request's body is
// read, and a live stream sets a deadline for each of its writes (see
// WithWriteTimeout) and none between them, over HTTP/1.1 and HTTP/2. An
// application that makes its own http.Server can set the same timeouts;
// with ReadHeaderTimeout alone, a client holds a connection for as long as
// it likes.
//
//	srv := httpapi.NewServer(":8080", httpapi.Routes(mux, problems))
//	srv.RegisterOnShutdown(streams.Close)
//	err := srv.ListenAndServe()
//
// # Observability
//
// The handlers work in each request's context: with the application's HTTP
// instrumentation (otelhttp) around them, a command's spans and the store's
// nest under the request's server span, and every append, through a
// command or the append endpoint, stores the request's trace context in
// its events' metadata (see the telemetry package). Problems logs with the
// trace and span ids of the request.
package httpapi
