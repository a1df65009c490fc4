package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// startAtEnd is the ?after= value that starts a live stream with the next
// new event.
const startAtEnd = "end"

func (s *Streams) serveStreamLive(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if !s.liveRequest(w, r, Action{Op: OpSubscribe, Stream: stream}) {
		return
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	after, err := liveCursor(r, func(in, name, v string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, &InputError{In: in, Name: name, Value: v, Reason: cursorReason(in), Err: errors.New("not a stream position")}
		}
		return n, nil
	}, func() (int64, error) {
		v, _, err := s.store.StreamVersion(ctx, stream, s.readOpts()...)
		return v, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Take the head of the log before catching up: every event up to it
	// is read by the catch-up below, every later one reaches the
	// subscription.
	head, err := s.cfg.source.Head(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveLive(w, r, func(ctx context.Context, out *sseWriter) error {
		catchUp := func() error {
			opts := append(s.readOpts(), eventstore.FromVersion(after+1))
			for e, err := range s.store.ReadStream(ctx, stream, opts...) {
				if err != nil {
					return err
				}
				if err := out.event(strconv.FormatInt(e.StreamPosition, 10), e); err != nil {
					return err
				}
				after = e.StreamPosition
			}
			return nil
		}
		if err := catchUp(); err != nil {
			return err
		}
		// The subscription only wakes the stream: when a batch holds an
		// event of the stream, the stream is read from where it was left.
		// That is exact whatever the source's partitions or batching.
		return s.follow(ctx, out, head, func(b projection.Batch) error {
			for _, e := range b.Events {
				if e.StreamName == stream {
					return catchUp()
				}
			}
			return nil
		})
	})
}

func (s *Streams) serveAllLive(w http.ResponseWriter, r *http.Request) {
	s.serveLogLive(w, r, "")
}

func (s *Streams) serveCategoryLive(w http.ResponseWriter, r *http.Request) {
	s.serveLogLive(w, r, r.PathValue("category"))
}

func (s *Streams) serveLogLive(w http.ResponseWriter, r *http.Request, category string) {
	if !s.liveRequest(w, r, Action{Op: OpSubscribe, Category: category}) {
		return
	}
	ctx := r.Context()
	after, err := liveCursor(r, func(in, name, v string) (eventstore.Position, error) {
		return ResolvePosition(ctx, s.store, in, name, v)
	}, func() (eventstore.Position, error) {
		return s.cfg.source.Head(ctx)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveLive(w, r, func(ctx context.Context, out *sseWriter) error {
		return s.follow(ctx, out, after, func(b projection.Batch) error {
			for _, e := range b.Events {
				if category != "" && eventstore.StreamType(e.StreamName) != category {
					continue
				}
				if err := out.event(eventstore.PositionOf(e).String(), e); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// liveRequest checks the method, the Authorizer and that live streams are
// available, and answers when not.
func (s *Streams) liveRequest(w http.ResponseWriter, r *http.Request, a Action) bool {
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w, r, "GET", r.Method+" is not allowed here")
		return false
	}
	if err := authorize(s.cfg.authorize, r, a); err != nil {
		s.fail(w, r, err)
		return false
	}
	if s.cfg.source == nil {
		s.fail(w, r, &Problem{Status: http.StatusNotImplemented, Detail: "live streams are not configured"})
		return false
	}
	if s.ctx.Err() != nil {
		w.Header().Set("Retry-After", "1")
		s.fail(w, r, &Problem{Status: http.StatusServiceUnavailable, Detail: "the server is shutting down"})
		return false
	}
	return true
}

// liveCursor reads where a live stream starts after: the Last-Event-ID
// header, else the after query parameter ("end" for the current end), else
// the beginning (the zero T). parse reads the value of the header or the
// parameter (in and name say which), and returns an *InputError for one
// that is not a cursor of the stream.
func liveCursor[T any](r *http.Request, parse func(in, name, value string) (T, error), end func() (T, error)) (T, error) {
	var zero T
	in, name, v := InQuery, "after", r.URL.Query().Get("after")
	if ids := r.Header.Values("Last-Event-ID"); len(ids) > 0 {
		in, name, v = InHeader, "Last-Event-ID", strings.TrimSpace(ids[0])
	}
	switch {
	case v == "": // EventSource sends an empty id to start over
		return zero, nil
	case in == InQuery && v == startAtEnd:
		return end()
	}
	return parse(in, name, v)
}

// cursorReason is the reason of the error for a value of the
// Last-Event-ID header or the after parameter that is not a cursor.
func cursorReason(in string) string {
	if in == InHeader {
		return "not an event id of this stream"
	}
	return `not a cursor of this stream nor "end"`
}

// serveLive starts a text/event-stream response and runs run until the
// client goes away, the request ends or Close is called.
func (s *Streams) serveLive(w http.ResponseWriter, r *http.Request, run func(context.Context, *sseWriter) error) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	out := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.writeTimeout, json: s.jsonEvent}
	w.WriteHeader(http.StatusOK)
	if s.cfg.retry > 0 {
		out.retry(s.cfg.retry)
	}
	err := out.flush()
	if err == nil {
		err = run(ctx, out)
	}
	var gone *clientGoneError
	if err != nil && ctx.Err() == nil && !errors.As(err, &gone) {
		// The response has begun: the error can only be logged; the
		// client reconnects and resumes.
		s.cfg.problems.log(r, err, http.StatusInternalServerError, "")
	}
}

// follow subscribes to the source after position after and hands each batch
// to handle, writing heartbeats while the stream is silent, until ctx ends or
// an error. Every write happens on the calling goroutine.
func (s *Streams) follow(ctx context.Context, out *sseWriter, after eventstore.Position, handle func(projection.Batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan projection.Batch)
	acks := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.cfg.source.Subscribe(ctx, after, func(ctx context.Context, b projection.Batch) error {
			select {
			case batches <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			// The source may reuse the batch once this returns: wait
			// until it is written.
			select {
			case err := <-acks:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	subscribed := true
	defer func() {
		cancel()
		if subscribed {
			<-done
		}
	}()
	heartbeat := time.NewTimer(s.cfg.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case b := <-batches:
			writes := out.writes
			err := handle(b)
			acks <- err
			if err != nil {
				return err
			}
			if out.writes != writes {
				heartbeat.Reset(s.cfg.heartbeat)
			}
		case <-heartbeat.C:
			if err := out.comment("heartbeat"); err != nil {
				return err
			}
			heartbeat.Reset(s.cfg.heartbeat)
		case err := <-done:
			subscribed = false
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sseWriter writes Server-Sent Events, flushing each.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	writes  int
	json    func(emmett.RecordedEvent) (eventstore.JSONEvent, error) // the Streams' jsonEvent
}

// event writes one event with the given id and the JSON form of e.
func (o *sseWriter) event(id string, e emmett.RecordedEvent) error {
	je, err := o.json(e)
	if err != nil {
		return err
	}
	data, err := json.Marshal(je)
	if err != nil {
		return err
	}
	o.buf = append(o.buf[:0], "id: "...)
	o.buf = append(o.buf, id...)
	o.buf = append(o.buf, '\n')
	// encoding/json writes no newline, but a multi-line value would be
	// split into several data lines, which the client joins back.
	for line := range strings.SplitSeq(string(data), "\n") {
		o.buf = append(o.buf, "data: "...)
		o.buf = append(o.buf, line...)
		o.buf = append(o.buf, '\n')
	}
	o.buf = append(o.buf, '\n')
	return o.write()
}

// comment writes a comment line, which clients ignore.
func (o *sseWriter) comment(text string) error {
	o.buf = append(append(append(o.buf[:0], ": "...), text...), "\n\n"...)
	return o.write()
}

// retry sets the client's reconnection delay; it is written with the next
// flush.
func (o *sseWriter) retry(d time.Duration) {
	o.deadline()
	o.w.Write([]byte("retry: " + strconv.FormatInt(d.Milliseconds(), 10) + "\n\n"))
}

func (o *sseWriter) write() error {
	o.deadline()
	if _, err := o.w.Write(o.buf); err != nil {
		return &clientGoneError{err}
	}
	o.writes++
	return o.flush()
}

func (o *sseWriter) flush() error {
	o.deadline()
	if err := o.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return err // a server error: this writer cannot stream
		}
		return &clientGoneError{err}
	}
	// Written: no deadline until the next write. A silent stream must not
	// be ended by one (HTTP/2 resets a stream whose write deadline passes,
	// writing or not), nor by the server's WriteTimeout.
	_ = o.rc.SetWriteDeadline(time.Time{})
	return nil
}

// clientGoneError is a failed write to a live stream: the client went away
// or stopped reading. It ends the stream and is not logged as a failure.
type clientGoneError struct{ err error }

func (e *clientGoneError) Error() string { return "httpapi: writing a live stream: " + e.err.Error() }
func (e *clientGoneError) Unwrap() error { return e.err }

// deadline bounds the next write, so that a client that stopped reading is
// dropped; flush clears it once the write is done. A writer that cannot (a
// test recorder) is left as it is.
func (o *sseWriter) deadline() {
	_ = o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
}
