package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

func (c *Console) routes() {
	view := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		c.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			if status, why := c.authorize(r, Action{Op: OpView}); status != 0 {
				c.refuse(w, r, status, why)
				return
			}
			if err := h(w, r); err != nil {
				c.fail(w, r, err)
			}
		})
	}
	view("/{$}", c.processorsPage)
	view("/processors", c.processorsPage)
	view("/streams", c.streamsPage)
	view("/stream", c.streamPage)
	view("/log", c.logPage)
	view("/search", c.searchPage)
	view("/projections", c.projectionsPage)
	view("/parked", c.parkedPage)
	view("/slots", c.slotsPage)
	view("/api/processors", c.processorsJSON)
	view("/api/log/live", c.liveLog)

	act := func(pattern string, h func(http.ResponseWriter, *http.Request)) {
		c.mux.Handle("POST "+pattern, c.csrf.Handler(http.HandlerFunc(h)))
	}
	act("/parked/retry", c.retryParked)
	act("/parked/discard", c.discardParked)
	act("/projections/drop", c.dropVersion)
	act("/projections/activate", c.activateVersion)
	act("/processors/rebuild", c.rebuild)
}

// page is what every page's template gets.
type page struct {
	Title  string
	Nav    string // the nav item of the page
	Base   string // the prefix links start with
	Notice string // the outcome of the action that redirected here
	Data   any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) error {
	var buf bytes.Buffer
	p := page{Title: title, Nav: name, Base: c.cfg.prefix, Notice: r.URL.Query().Get("notice"), Data: data}
	if err := c.pages.ExecuteTemplate(&buf, name+".html", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// refuse answers a request the authorizer refused: an HTML page for a
// browser, problem details otherwise.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, why string) {
	c.problem(w, r, status, why)
}

// fail answers a request whose reading or action failed.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var input inputError
	switch {
	case errors.As(err, &input):
		status = http.StatusBadRequest
	case errors.Is(err, projection.ErrParkedNotFound), errors.Is(err, projection.ErrVersionNotFound), errors.Is(err, eventstore.ErrPositionNotFound):
		status = http.StatusNotFound
	case errors.Is(err, projection.ErrVersionActive), errors.Is(err, projection.ErrVersionBuilding):
		status = http.StatusConflict
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	default:
		// The store's errors may say more than a client should read.
		c.cfg.logger.ErrorContext(r.Context(), "console: request failed", "path", r.URL.Path, "error", err)
		c.problem(w, r, status, "The request failed: the server's log has the error.")
		return
	}
	c.problem(w, r, status, err.Error())
}

func (c *Console) problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	if wantsHTML(r) {
		_ = c.render(w, r, status, "error", http.StatusText(status), map[string]any{"Status": status, "Detail": detail})
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// inputError is a request's bad parameter: 400.
type inputError struct{ msg string }

func (e inputError) Error() string { return e.msg }

func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, inputError{fmt.Sprintf("%s=%q: not a number", name, v)}
	}
	return n, nil
}

// --- streams

type streamsData struct {
	Prefix, Partition string
	Streams           []eventstore.StreamInfo
	Next              string // the After of the next page, or ""
	First             bool
	Unsupported       bool
}

const streamPage = 50

func (c *Console) streamsPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := streamsData{Prefix: q.Get("prefix"), Partition: q.Get("partition"), First: q.Get("after") == ""}
	if d.Partition == "" {
		d.Partition = eventstore.DefaultPartition
	}
	lister, ok := c.store.(eventstore.StreamLister)
	if !ok {
		d.Unsupported = true
		return c.render(w, r, http.StatusOK, "streams", "Streams", d)
	}
	streams, err := lister.ListStreams(r.Context(), eventstore.StreamQuery{Partition: d.Partition, Prefix: d.Prefix, After: q.Get("after"), Limit: streamPage + 1})
	if err != nil {
		return err
	}
	if len(streams) > streamPage {
		streams = streams[:streamPage]
		d.Next = streams[streamPage-1].Name
	}
	d.Streams = streams
	return c.render(w, r, http.StatusOK, "streams", "Streams", d)
}

// eventView is an event as the pages show it.
type eventView struct {
	emmett.RecordedEvent
	Position  string
	Partition string
	JSON      string // the data, pretty-printed
	Fields    string // the metadata's own fields, pretty-printed, or ""
	// StoredVersion is the schema version the event is stored at, when
	// it is shown upgraded (0 otherwise); UpgradeError why it could not
	// be.
	StoredVersion int
	UpgradeError  string
}

// upgradedView is newEventView of e in the current form of its type when
// the console has the application's registry (WithUpgrade) and the
// request does not ask for events as stored (?raw=1).
func (c *Console) upgradedView(r *http.Request, e emmett.RecordedEvent, partition string) eventView {
	if c.cfg.upgrade == nil || r.URL.Query().Get("raw") == "1" {
		return newEventView(e, partition)
	}
	up, err := e.Upgraded(c.cfg.upgrade)
	if err != nil {
		v := newEventView(e, partition)
		v.UpgradeError = err.Error()
		return v
	}
	v := newEventView(up, partition)
	v.StoredVersion = max(e.SchemaVersion, 1)
	return v
}

func newEventView(e emmett.RecordedEvent, partition string) eventView {
	v := eventView{RecordedEvent: e, Position: eventstore.PositionOf(e).String(), Partition: partition, JSON: pretty(e.Data)}
	if len(e.Metadata.Fields) > 0 {
		b, _ := json.MarshalIndent(e.Metadata.Fields, "", "  ")
		v.Fields = string(b)
	}
	return v
}

func pretty(data []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return string(data)
	}
	return buf.String()
}

type streamData struct {
	Name, Partition string
	Raw, Upgrades   bool // events as stored (?raw=1); the console can upgrade them
	Version         int64
	From            int64
	Events          []eventView
	Next, Prev      int64 // the From of the next and previous pages, or 0
}

func (c *Console) streamPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name, partition := r.URL.Query().Get("name"), r.URL.Query().Get("partition")
	if partition == "" {
		partition = eventstore.DefaultPartition
	}
	if err := eventstore.ValidateStreamName(name); err != nil {
		return inputError{err.Error()}
	}
	from, err := intParam(r, "from", 1)
	if err != nil {
		return err
	}
	from = max(from, 1)
	d := streamData{Name: name, Partition: partition, From: from, Raw: r.URL.Query().Get("raw") == "1", Upgrades: c.cfg.upgrade != nil}
	if d.Version, _, err = c.store.StreamVersion(ctx, name, eventstore.InPartition(partition)); err != nil {
		return err
	}
	for e, err := range c.store.ReadStream(ctx, name, eventstore.FromVersion(from), eventstore.MaxCount(streamPage+1), eventstore.InPartition(partition)) {
		if err != nil {
			return err
		}
		if len(d.Events) == streamPage {
			d.Next = e.StreamPosition
			break
		}
		d.Events = append(d.Events, c.upgradedView(r, e, partition))
	}
	if from > 1 {
		d.Prev = max(1, from-streamPage)
	}
	return c.render(w, r, http.StatusOK, "stream", name, d)
}

// --- the global log

type logData struct {
	Events []eventView // newest first
	Head   string      // where the live feed starts after
	Older  int64       // the before= of the page of older events, or 0
	Live   bool        // the page follows the log (it is its newest page)
}

const logPage = 50

func (c *Console) logPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	head, err := c.store.Head(ctx)
	if err != nil {
		return err
	}
	before, err := intParam(r, "before", 0)
	if err != nil {
		return err
	}
	d := logData{Head: head.String(), Live: before == 0}
	upTo := head
	if before > 0 {
		upTo = eventstore.Position{GlobalPosition: before - 1}
	}
	start, err := c.positionBefore(ctx, upTo.GlobalPosition-logPage)
	if err != nil {
		return err
	}
	for e, err := range c.store.ReadAll(ctx, start, eventstore.MaxCount(2*logPage)) {
		if err != nil {
			return err
		}
		if e.GlobalPosition > upTo.GlobalPosition {
			break
		}
		d.Events = append(d.Events, newEventView(e, ""))
	}
	if len(d.Events) > logPage {
		d.Events = d.Events[len(d.Events)-logPage:]
	}
	for i, j := 0, len(d.Events)-1; i < j; i, j = i+1, j-1 {
		d.Events[i], d.Events[j] = d.Events[j], d.Events[i]
	}
	if n := len(d.Events); n > 0 && d.Events[n-1].GlobalPosition > 1 {
		d.Older = d.Events[n-1].GlobalPosition
	}
	return c.render(w, r, http.StatusOK, "log", "Global log", d)
}

// positionBefore returns a position to read the log after so as to start
// near the global position global+1: the position of an event at or
// shortly before global (global positions may have gaps), or the start.
func (c *Console) positionBefore(ctx context.Context, global int64) (eventstore.Position, error) {
	for tries := 0; global > 0 && tries < 32; tries, global = tries+1, global-1 {
		p, err := c.store.ResolvePosition(ctx, eventstore.Position{GlobalPosition: global})
		if errors.Is(err, eventstore.ErrPositionNotFound) {
			continue
		}
		return p, err
	}
	return eventstore.Position{}, nil
}

// --- search by correlation, causation or message id

type searchData struct {
	Correlation, Causation, Message string
	Near                            int64
	From, To                        int64 // the global positions read
	Window                          int64
	Wider                           int64 // a wider window to offer, or 0
	Events                          []eventView
}

func (c *Console) searchPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := searchData{Correlation: q.Get("correlation"), Causation: q.Get("causation"), Message: q.Get("message")}
	near, err := intParam(r, "near", 0)
	if err != nil {
		return err
	}
	d.Near = near
	if d.Correlation == "" && d.Causation == "" && d.Message == "" {
		return inputError{"search takes correlation=, causation= or message="}
	}
	if near == 0 {
		head, err := c.store.Head(ctx)
		if err != nil {
			return err
		}
		near = head.GlobalPosition
	}
	window, err := intParam(r, "window", int64(c.cfg.window))
	if err != nil {
		return err
	}
	d.Window = min(max(window, 2), MaxSearchWindow)
	if d.Window < MaxSearchWindow {
		d.Wider = min(10*d.Window, MaxSearchWindow)
	}
	half := d.Window / 2
	start, err := c.positionBefore(ctx, near-half-1)
	if err != nil {
		return err
	}
	d.From, d.To = max(1, near-half), near+half
	for e, err := range c.store.ReadAll(ctx, start, eventstore.MaxCount(d.Window+1)) {
		if err != nil {
			return err
		}
		if e.GlobalPosition > d.To {
			break
		}
		m := e.Metadata
		if (d.Correlation != "" && m.CorrelationID == d.Correlation) || (d.Causation != "" && m.CausationID == d.Causation) ||
			(d.Message != "" && e.MessageID == d.Message) {
			d.Events = append(d.Events, newEventView(e, ""))
		}
	}
	return c.render(w, r, http.StatusOK, "search", "Search", d)
}

// --- processors

// processorView is a processor's state as the processors page and its
// JSON show it.
type processorView struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Instance   string    `json:"instance"`
	Checkpoint string    `json:"checkpoint"`
	LagEvents  int64     `json:"lagEvents"`
	LagSeconds float64   `json:"lagSeconds"`
	Parked     int       `json:"parked"`
	Updated    time.Time `json:"updated"`
	// Rebuildable: the console rebuilds it (WithRebuild); Rebuild says
	// how its last rebuild goes or went.
	Rebuildable bool   `json:"rebuildable"`
	Rebuild     string `json:"rebuild"`
}

type instanceView struct {
	Group string
	projection.Instance
}

type processorsData struct {
	Head        string
	Processors  []processorView
	Instances   []instanceView
	Refresh     int64 // milliseconds
	Unsupported bool
}

func (c *Console) processors(ctx context.Context) (processorsData, error) {
	d := processorsData{Refresh: c.cfg.pollEvery.Milliseconds()}
	lister, ok := c.store.(projection.ProcessorLister)
	if !ok {
		d.Unsupported = true
		return d, nil
	}
	head, err := c.store.Head(ctx)
	if err != nil {
		return d, err
	}
	d.Head = head.String()
	states, err := lister.ListProcessors(ctx)
	if err != nil {
		return d, err
	}
	parked, err := c.store.Processors().Parked(ctx, projection.ParkedFilter{Limit: 10_000})
	if err != nil {
		return d, err
	}
	parkedBy := map[string]int{}
	for _, p := range parked {
		parkedBy[p.Processor]++
	}
	now := time.Now()
	d.Processors = []processorView{}
	for _, s := range states {
		_, rebuildable := c.cfg.rebuild[s.ID]
		v := processorView{ID: s.ID, Status: s.Status, Instance: s.Instance, Checkpoint: s.Checkpoint.String(), Parked: parkedBy[s.ID], Updated: s.Updated,
			Rebuildable: rebuildable, Rebuild: c.rebuilds.describe(s.ID)}
		if s.Checkpoint.IsZero() {
			v.Checkpoint = ""
		}
		if lag := head.GlobalPosition - s.Checkpoint.GlobalPosition; lag > 0 {
			v.LagEvents = lag
			// The lag in time is the age of the first event not processed.
			for e, err := range c.store.ReadAll(ctx, s.Checkpoint, eventstore.MaxCount(1)) {
				if err != nil {
					return d, err
				}
				v.LagSeconds = max(0, now.Sub(e.Created).Seconds())
			}
		}
		d.Processors = append(d.Processors, v)
	}
	groups := c.cfg.groups
	if c.cfg.members == nil {
		groups = nil
	} else if lister, ok := c.cfg.members.(projection.GroupLister); ok && len(groups) == 0 {
		if groups, err = lister.Groups(ctx); err != nil {
			return d, err
		}
	}
	for _, g := range groups {
		is, err := c.cfg.members.Instances(ctx, g)
		if err != nil {
			return d, err
		}
		for _, i := range is {
			d.Instances = append(d.Instances, instanceView{Group: g, Instance: i})
		}
	}
	return d, nil
}

func (c *Console) processorsPage(w http.ResponseWriter, r *http.Request) error {
	d, err := c.processors(r.Context())
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "processors", "Processors", d)
}

func (c *Console) processorsJSON(w http.ResponseWriter, r *http.Request) error {
	d, err := c.processors(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(map[string]any{"head": d.Head, "processors": d.Processors, "at": time.Now().UTC()})
}

// --- projections

type versionView struct {
	projection.ProjectionVersion
	Checkpoint string
	Progress   int // percent of the log processed
	Behind     int64
}

func (c *Console) projectionsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	procs := c.store.Processors()
	vs, err := projection.Versions(ctx, procs, "")
	if err != nil {
		return err
	}
	head, err := c.store.Head(ctx)
	if err != nil {
		return err
	}
	views := make([]versionView, len(vs))
	for i, v := range vs {
		views[i].ProjectionVersion = v
		cp, found, err := procs.ReadCheckpoint(ctx, v.Processor)
		if err != nil {
			return err
		}
		if found {
			views[i].Checkpoint = cp.String()
		}
		views[i].Behind = max(0, head.GlobalPosition-cp.GlobalPosition)
		views[i].Progress = 100
		if head.GlobalPosition > 0 {
			views[i].Progress = int(min(100, 100*cp.GlobalPosition/head.GlobalPosition))
		}
	}
	return c.render(w, r, http.StatusOK, "projections", "Projections", views)
}

// --- parked events

type parkedView struct {
	projection.ParkedEvent
	Event eventView
}

type parkedData struct {
	Processor string
	Events    []parkedView
}

func (c *Console) parkedPage(w http.ResponseWriter, r *http.Request) error {
	d := parkedData{Processor: r.URL.Query().Get("processor")}
	parked, err := c.store.Processors().Parked(r.Context(), projection.ParkedFilter{Processor: d.Processor, Limit: 500})
	if err != nil {
		return err
	}
	for _, p := range parked {
		d.Events = append(d.Events, parkedView{ParkedEvent: p, Event: c.upgradedView(r, p.Event, "")})
	}
	return c.render(w, r, http.StatusOK, "parked", "Parked events", d)
}

// --- replication slots

type slotsData struct {
	Slots       []Slot
	Unsupported bool
}

func (c *Console) slotsPage(w http.ResponseWriter, r *http.Request) error {
	d := slotsData{Unsupported: c.cfg.slots == nil}
	if c.cfg.slots != nil {
		slots, err := c.cfg.slots(r.Context())
		if err != nil {
			return err
		}
		sort.Slice(slots, func(i, j int) bool { return slots[i].Name < slots[j].Name })
		d.Slots = slots
	}
	return c.render(w, r, http.StatusOK, "slots", "Replication slots", d)
}

// --- template functions

var funcs = template.FuncMap{
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"seconds": func(s float64) string {
		switch {
		case s == 0:
			return "0 s"
		case s < 10:
			return strconv.FormatFloat(s, 'f', 1, 64) + " s"
		}
		return (time.Duration(s) * time.Second).Round(time.Second).String()
	},
	"bytes": func(n int64) string {
		const unit = 1024
		if n < unit {
			return fmt.Sprintf("%d B", n)
		}
		div, exp := int64(unit), 0
		for m := n / unit; m >= unit; m /= unit {
			div *= unit
			exp++
		}
		return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
	},
	"query": func(kv ...any) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if s := fmt.Sprint(kv[i+1]); s != "" && s != "0" {
				v.Set(fmt.Sprint(kv[i]), s)
			}
		}
		return template.URL(v.Encode())
	},
	"orDash": func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	},
	"join": strings.Join,
	"navItems": func() [][2]string {
		return [][2]string{{"processors", "Processors"}, {"streams", "Streams"}, {"log", "Log"},
			{"projections", "Projections"}, {"parked", "Parked"}, {"slots", "Slots"}}
	},
}
