package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/google/uuid"
)

// jsonEvents returns the JSON form of recs, each upgraded to the current
// form of its type with WithUpgrade.
func (s *Streams) jsonEvents(recs []emmett.RecordedEvent) ([]eventstore.JSONEvent, error) {
	out := make([]eventstore.JSONEvent, len(recs))
	for i, e := range recs {
		je, err := s.jsonEvent(e)
		if err != nil {
			return nil, err
		}
		out[i] = je
	}
	return out, nil
}

// jsonEvent returns the JSON form of e, upgraded with WithUpgrade.
func (s *Streams) jsonEvent(e emmett.RecordedEvent) (eventstore.JSONEvent, error) {
	if s.cfg.upgrade != nil {
		var err error
		if e, err = e.Upgraded(s.cfg.upgrade); err != nil {
			return eventstore.JSONEvent{}, fmt.Errorf("httpapi: %w", err)
		}
	}
	return eventstore.NewJSONEvent(e), nil
}

// StreamPage is a page of a stream's events: the answer to
// GET /streams/{stream}?from=&limit=.
type StreamPage struct {
	// StreamName is the stream read.
	StreamName string `json:"streamName"`
	// StreamVersion is the stream's version when it was read; the page
	// holds no event after it. The ETag header carries it too.
	StreamVersion int64 `json:"streamVersion"`
	// Events are the events read, in stream order.
	Events []eventstore.JSONEvent `json:"events"`
	// NextFrom is the stream position the next page starts from, now or,
	// once more events are appended, later.
	NextFrom int64 `json:"nextFrom"`
	// Next is the URL of the next page; empty when this page reaches the
	// end of the stream.
	Next string `json:"next,omitempty"`
}

// LogPage is a page of the global log, or of the events of one category:
// the answer to GET /all?after=&limit= and GET /categories/{category}?after=&limit=.
type LogPage struct {
	// Events are the events read, in the log's order.
	Events []eventstore.JSONEvent `json:"events"`
	// NextAfter is the position the next page starts after, now or, once
	// more events are appended, later. For a category it can be past the
	// last event of the page: the events in between are of other
	// categories.
	NextAfter string `json:"nextAfter"`
	// Next is the URL of the next page; empty when this page reaches the
	// end of the log.
	Next string `json:"next,omitempty"`
}

// AppendEvent is one event of an append request: POST /streams/{stream}
// takes a JSON array of them.
type AppendEvent struct {
	// Type is the event's type name; required.
	Type string `json:"type"`
	// Data is the event's data; required, any JSON value.
	Data json.RawMessage `json:"data"`
	// Metadata is an optional object of metadata.
	Metadata emmett.Metadata `json:"metadata,omitzero"`
	// MessageID is an optional UUID for the event; a new one when empty.
	// Giving it makes a retried append recognizable downstream.
	MessageID string `json:"messageId,omitempty"`
}

// AppendResponse is the answer to an append.
type AppendResponse struct {
	// NextExpectedVersion is the stream's version after the append; the
	// ETag header carries it too.
	NextExpectedVersion int64 `json:"nextExpectedVersion"`
	// Created reports whether the append created the stream (the status is
	// then 201 Created).
	Created bool `json:"created"`
	// Position is the global position of the last appended event.
	Position string `json:"position"`
	// Events are the appended events as recorded.
	Events []eventstore.JSONEvent `json:"events"`
}

type streamsConfig struct {
	config
	source         projection.Source
	allowAppend    bool
	validateAppend func(r *http.Request, stream string, events []eventstore.EventData) error
	upgrade        emmett.UpgradeFunc
	partition      string
	pageSize       int
	maxPageSize    int
	heartbeat      time.Duration
	retry          time.Duration
	writeTimeout   time.Duration
}

// Streams is an http.Handler serving a store's events to other services:
// pages of events to read and live Server-Sent Events to follow, and
// (when enabled) appends. Mount it under a prefix with http.StripPrefix:
//
//	mux.Handle("/events/", http.StripPrefix("/events", streams))
//
// Its endpoints, relative to where it is mounted:
//
//	GET  /streams/{stream}?from=&limit=       a page of a stream (StreamPage), with its ETag
//	POST /streams/{stream}                    append events (with AllowAppend only)
//	GET  /streams/{stream}/live?after=        a stream's events, live
//	GET  /all?after=&limit=                   a page of the global log (LogPage)
//	GET  /all/live?after=                     every event, live
//	GET  /categories/{category}?after=&limit= a page of a category's events (LogPage)
//	GET  /categories/{category}/live?after=   a category's events, live
//
// A category is the part of stream names before their first '-' (see
// eventstore.StreamType). Stream and category names are one path segment:
// escape a '/' in them as %2F.
//
// # Pages
//
// A page holds at most limit events (see WithPageSize), and the cursor and
// URL of the next page (also in a Link header with rel="next"). A page of a
// stream is the stream as of the version in its ETag; a request with that
// ETag in If-None-Match is answered 304 Not Modified while the stream has
// not changed. A stream is
// paged by stream position (from, the first position of the page), the log
// and categories by global position (after, the position the page starts
// after, as the previous page's nextAfter gives it).
//
// # Positions of the log
//
// A position of the log (after, and the Last-Event-ID of a live log or
// category) is one the responses give: an event's position, a page's
// nextAfter, the id of a live event. An event's globalPosition alone
// ("42", where PostgreSQL's position is "1907:42") is taken too, and means
// the same: after that event, on every store (see ResolvePosition). A
// position at which the store has no event (made up, or of another
// database) is answered 400 Bad Request: it is never read as the start of
// the log, nor as a point past its end.
//
// # Live streams
//
// A live endpoint answers with a text/event-stream of Server-Sent Events,
// one per event: the id field is the event's cursor (its stream position
// for a stream, its global position for the log and categories), the data
// field the event as JSON (Event). It starts after the cursor in the
// Last-Event-ID header, else after the ?after= query parameter (the special
// value "end" starts with the next new event), else at the beginning; so a
// client that reconnects with the last id it received (as EventSource does)
// gets every event exactly once, in order. The handler flushes each event,
// writes a comment line when the stream has been silent for the heartbeat
// interval (see WithHeartbeat), and ends when the client disconnects, the
// request's context ends, or Close is called.
//
// # Appends
//
// POST /streams/{stream} takes a JSON array of AppendEvent, appends them
// atomically with the expected version of the If-Match or If-None-Match
// header (see ExpectedVersion), and answers 201 Created (or 200 OK when the
// stream existed) with an AppendResponse and the stream's new ETag.
// Appends are refused (405) unless AllowAppend is given; WithAppendValidator
// checks what is appended (event types a registry knows, say), since
// events a stream's readers cannot decode would break them.
//
// # Errors and authorization
//
// Every error is answered as problem details (see Problems). The
// Authorizer (see WithAuthorizer) is asked before every request.
type Streams struct {
	store eventstore.Store
	cfg   streamsConfig
	mux   *http.ServeMux

	// ctx ends when Close is called; it ends every live stream.
	ctx   context.Context
	close context.CancelFunc
}

// NewStreams returns the event streaming handler of store.
func NewStreams(store eventstore.Store, opts ...StreamsOption) *Streams {
	cfg := streamsConfig{pageSize: 100, maxPageSize: 1000, heartbeat: 15 * time.Second, writeTimeout: time.Minute}
	for _, o := range opts {
		if o != nil {
			o.applyStreams(&cfg)
		}
	}
	cfg.pageSize = min(cfg.pageSize, cfg.maxPageSize)
	if cfg.source == nil {
		if log, ok := store.(backend.Log); ok {
			cfg.source = backend.NewPollingSource(log, backend.ResolvePoll(projection.PollPartition(cfg.partition)))
		}
	}
	s := &Streams{store: store, cfg: cfg, mux: http.NewServeMux()}
	s.ctx, s.close = context.WithCancel(context.Background())
	s.mux.HandleFunc("/streams/{stream}", s.serveStream)
	s.mux.HandleFunc("/streams/{stream}/live", s.serveStreamLive)
	s.mux.HandleFunc("/all", s.serveAll)
	s.mux.HandleFunc("/all/live", s.serveAllLive)
	s.mux.HandleFunc("/categories/{category}", s.serveCategory)
	s.mux.HandleFunc("/categories/{category}/live", s.serveCategoryLive)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.cfg.problems.WriteError(w, r, &Problem{Status: http.StatusNotFound, Detail: "no such endpoint"})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Streams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close ends every live stream, and answers later requests for one with
// 503 Service Unavailable; pages and appends still work. Call it when the
// server shuts down (http.Server.Shutdown waits for every response to end,
// which a live stream never does by itself):
//
//	server.RegisterOnShutdown(streams.Close)
func (s *Streams) Close() { s.close() }

func (s *Streams) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.problems.WriteError(w, r, err)
}

// methodNotAllowed answers 405 with the methods allowed.
func (s *Streams) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string, detail string) {
	w.Header().Set("Allow", allow)
	s.fail(w, r, &Problem{Status: http.StatusMethodNotAllowed, Detail: detail})
}

func (s *Streams) allowRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, r, "GET, HEAD", r.Method+" is not allowed here")
		return false
	}
	return true
}

func (s *Streams) readOpts() []eventstore.ReadOption {
	if s.cfg.partition == "" {
		return nil
	}
	return []eventstore.ReadOption{eventstore.InPartition(s.cfg.partition)}
}

func (s *Streams) serveStream(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.readStream(w, r, stream)
	case http.MethodPost:
		if !s.cfg.allowAppend {
			s.methodNotAllowed(w, r, "GET, HEAD", "appending events over HTTP is not enabled")
			return
		}
		s.appendToStream(w, r, stream)
	default:
		allow := "GET, HEAD"
		if s.cfg.allowAppend {
			allow += ", POST"
		}
		s.methodNotAllowed(w, r, allow, r.Method+" is not allowed here")
	}
}

func (s *Streams) readStream(w http.ResponseWriter, r *http.Request, stream string) {
	if err := authorize(s.cfg.authorize, r, Action{Op: OpRead, Stream: stream}); err != nil {
		s.fail(w, r, err)
		return
	}
	from, err := queryInt(r, "from", 1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from = max(from, 1)
	limit, err := s.pageLimit(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	version, exists, err := s.store.StreamVersion(ctx, stream, s.readOpts()...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !exists {
		s.fail(w, r, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream))
		return
	}
	w.Header().Set("ETag", ETag(version))
	if notModified(r, version) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// Read up to the version just read, so that the page is the stream as
	// of its ETag, and one more event than asked, to know if there are more.
	opts := append(s.readOpts(), eventstore.FromVersion(from), eventstore.ToVersion(version), eventstore.MaxCount(int64(limit)+1))
	recs := make([]emmett.RecordedEvent, 0, min(limit+1, 128))
	for e, err := range s.store.ReadStream(ctx, stream, opts...) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		recs = append(recs, e)
	}
	page := StreamPage{StreamName: stream, StreamVersion: version, NextFrom: from}
	if len(recs) > limit {
		recs = recs[:limit]
		page.NextFrom = recs[limit-1].StreamPosition + 1
		page.Next = nextURL(r, "from", strconv.FormatInt(page.NextFrom, 10), limit)
	} else if len(recs) > 0 {
		page.NextFrom = recs[len(recs)-1].StreamPosition + 1
	}
	if page.Events, err = s.jsonEvents(recs); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writePage(w, r, page.Next, page)
}

// notModified reports whether the If-None-Match header of a read names the
// stream's current version (or is "*"): the client's copy of the page is
// still the page, since a stream only grows.
func notModified(r *http.Request, version int64) bool {
	list, ok := headerList(r.Header, "If-None-Match")
	if !ok {
		return false
	}
	for _, tag := range splitList(list) {
		if tag == "*" {
			return true
		}
		if v, err := ParseETag(tag); err == nil && v == version {
			return true
		}
	}
	return false
}

func (s *Streams) writePage(w http.ResponseWriter, r *http.Request, next string, page any) {
	if next != "" {
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	w.Header().Set("Cache-Control", "no-cache")
	if err := WriteJSON(w, http.StatusOK, page); err != nil {
		s.fail(w, r, err)
	}
}

// categoryScanLimit bounds the events of other categories a category page
// reads past, so that a request for a rare category does not read the
// whole log at once: the page then ends early, with a next URL.
const categoryScanLimit = 10_000

func (s *Streams) serveAll(w http.ResponseWriter, r *http.Request) {
	if s.allowRead(w, r) {
		s.readLog(w, r, "")
	}
}

func (s *Streams) serveCategory(w http.ResponseWriter, r *http.Request) {
	if s.allowRead(w, r) {
		s.readLog(w, r, r.PathValue("category"))
	}
}

func (s *Streams) readLog(w http.ResponseWriter, r *http.Request, category string) {
	if err := authorize(s.cfg.authorize, r, Action{Op: OpRead, Category: category}); err != nil {
		s.fail(w, r, err)
		return
	}
	after, err := ResolvePosition(r.Context(), s.store, InQuery, "after", r.URL.Query().Get("after"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := s.pageLimit(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	opts := s.readOpts()
	if category == "" {
		opts = append(opts, eventstore.MaxCount(int64(limit)+1))
	}
	recs := make([]emmett.RecordedEvent, 0, min(limit+1, 128))
	last, scanned, more := after, 0, false
	for e, err := range s.store.ReadAll(r.Context(), after, opts...) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if category != "" && eventstore.StreamType(e.StreamName) != category {
			// Events of other categories move the cursor past them.
			last = eventstore.PositionOf(e)
			if scanned++; scanned >= categoryScanLimit {
				more = true
				break
			}
			continue
		}
		if len(recs) == limit {
			more = true
			break
		}
		recs = append(recs, e)
		last = eventstore.PositionOf(e)
	}
	events, err := s.jsonEvents(recs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := LogPage{Events: events, NextAfter: last.String()}
	if more {
		page.Next = nextURL(r, "after", page.NextAfter, limit)
	}
	s.writePage(w, r, page.Next, page)
}

func (s *Streams) appendToStream(w http.ResponseWriter, r *http.Request, stream string) {
	if err := authorize(s.cfg.authorize, r, Action{Op: OpAppend, Stream: stream}); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := limit(w, r, s.cfg.maxBodyBytes); err != nil {
		s.fail(w, r, err)
		return
	}
	expected, err := Precondition(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body []AppendEvent
	if err := DecodeJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	events := make([]eventstore.EventData, len(body))
	for i, e := range body {
		if e.MessageID != "" {
			if _, err := uuid.Parse(e.MessageID); err != nil {
				s.fail(w, r, &InputError{In: InBody, Name: fmt.Sprintf("[%d].messageId", i), Reason: "not a UUID"})
				return
			}
		}
		events[i] = eventstore.EventData{MessageID: e.MessageID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	if s.cfg.validateAppend != nil {
		if err := s.cfg.validateAppend(r, stream, events); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	opts := []eventstore.AppendOption{expected}
	if s.cfg.partition != "" {
		opts = append(opts, eventstore.InPartition(s.cfg.partition))
	}
	res, err := s.store.AppendToStream(r.Context(), stream, events, opts...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	w.Header().Set("ETag", ETag(res.NextExpectedVersion))
	appended, err := s.jsonEvents(res.Events)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := AppendResponse{
		NextExpectedVersion: res.NextExpectedVersion,
		Created:             res.Created,
		Position:            res.Position.String(),
		Events:              appended,
	}
	if err := WriteJSON(w, status, resp); err != nil {
		s.fail(w, r, err)
	}
}

// pageLimit reads the limit query parameter.
func (s *Streams) pageLimit(r *http.Request) (int, error) {
	n, err := queryInt(r, "limit", int64(s.cfg.pageSize))
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, &InputError{In: InQuery, Name: "limit", Value: r.URL.Query().Get("limit"), Reason: "must be at least 1"}
	}
	return int(min(n, int64(s.cfg.maxPageSize))), nil
}

// queryInt reads a non-negative integer query parameter.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &InputError{In: InQuery, Name: name, Value: v, Reason: "not a non-negative integer"}
	}
	return n, nil
}

// ResolvePosition reads a position of the global log that a client sent
// as value, in the header or parameter that in (InHeader, InQuery...) and
// name say, and resolves it with the store (see
// eventstore.PositionResolver): a bare global position ("42", an event's
// globalPosition) becomes the whole position of its event, so that it
// means that event on every store ("42" alone would sort before every
// event of PostgreSQL's log). An empty value is the start of the log.
//
// A value that is not a position, or one at which the store has no event,
// is an *InputError (answered 400), never read as the start of the log;
// the store's own errors are returned as they are.
func ResolvePosition(ctx context.Context, store eventstore.PositionResolver, in, name, value string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(value)
	if err != nil {
		return eventstore.Position{}, &InputError{In: in, Name: name, Value: value, Reason: "not a position", Err: err}
	}
	resolved, err := store.ResolvePosition(ctx, p)
	if errors.Is(err, eventstore.ErrPositionNotFound) {
		return eventstore.Position{}, &InputError{In: in, Name: name, Value: value, Reason: "no event is at this position", Err: err}
	}
	return resolved, err
}

// nextURL is the URL of the next page: the request's own path and query,
// with the cursor and limit set.
func nextURL(r *http.Request, cursor, value string, limit int) string {
	q := r.URL.Query()
	q.Set(cursor, value)
	q.Set("limit", strconv.Itoa(limit))
	return requestPath(r) + "?" + q.Encode()
}

// requestPath is the escaped path of r as the client sent it, before any
// http.StripPrefix.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			return u.EscapedPath()
		}
	}
	return r.URL.EscapedPath()
}
