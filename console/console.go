// Package console is Emmett's operations console: a web UI over an event
// store, as an http.Handler that an application mounts (or that emmett ui
// serves). It shows the streams (searchable by prefix and partition, a
// page at a time), a stream's events with their metadata, the global log
// live, the processors (checkpoint, lag in events and in time, status, the
// instance holding the lock, a chart of lag over time), the replication
// slots, the parked events and the versions of projections with the
// progress of their builds.
//
// The console is read-only unless it is given an Authorizer
// (WithAuthorizer): the actions (retrying or discarding a parked event,
// dropping or activating a version of a projection) are refused with 403
// without one. Actions are POSTs, never GETs, and cross-origin browser
// requests to them are refused (http.CrossOriginProtection: the
// Sec-Fetch-Site and Origin headers). The pages need no npm at build or
// run time: plain HTML, CSS and a small script, embedded in the binary.
//
// Mount it under a prefix with WithPrefix and http.StripPrefix:
//
//	mux.Handle("/console/", http.StripPrefix("/console", console.New(store,
//		console.WithPrefix("/console"), console.WithAuthorizer(admins))))
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

//go:embed web
var webFiles embed.FS

// Store is what the console reads: an event store with its log's head, its
// processors' checkpoints and its polling feed (the SQLite, PostgreSQL and
// in-memory stores are). Streams are listed when it is an
// eventstore.StreamLister, processors when it is a
// projection.ProcessorLister.
type Store interface {
	eventstore.Store
	// Head returns the position of the last event of the global log.
	Head(ctx context.Context) (eventstore.Position, error)
	// Processors returns the processors' checkpoints, parked events and
	// projection versions.
	Processors() projection.CheckpointStore
	// Source returns the polling feed of the global log.
	Source(opts ...projection.PollOption) projection.Source
}

// Slot is the state of a replication slot, as WithSlots reports it.
type Slot struct {
	// Name is the slot's name; Processor the processor that reads it.
	Name, Processor string
	// Active is whether a connection streams from it now.
	Active bool
	// WALStatus is PostgreSQL's wal_status of the slot (reserved,
	// extended, unreserved, lost).
	WALStatus string
	// RetainedBytes is the WAL the slot keeps from being recycled;
	// LagBytes how far its confirmed position is behind the server's.
	RetainedBytes, LagBytes int64
}

// Option configures a Console.
type Option func(*config)

type config struct {
	auth      Authorizer
	prefix    string
	slots     func(ctx context.Context) ([]Slot, error)
	members   projection.Membership
	groups    []string
	logger    *slog.Logger
	pollEvery time.Duration
	window    int
	upgrade   emmett.UpgradeFunc
	rebuild   map[string]*projection.Processor
}

// WithAuthorizer makes the console ask auth about every request, pages
// included: without one, pages are served and actions refused with 403.
func WithAuthorizer(auth Authorizer) Option { return func(c *config) { c.auth = auth } }

// WithPrefix is the path the console is mounted under ("/console"), which
// its links start with; its handler must then see paths without it
// (http.StripPrefix).
func WithPrefix(prefix string) Option {
	return func(c *config) { c.prefix = strings.TrimSuffix(prefix, "/") }
}

// WithSlots gives the console the replication slots to show (emmett ui
// passes the PostgreSQL store's): slots returns their states.
func WithSlots(slots func(ctx context.Context) ([]Slot, error)) Option {
	return func(c *config) { c.slots = slots }
}

// WithMembership shows the live instances of the given groups of
// processors (projection.Group), from their heartbeat rows; of every group
// that has a live instance when none is given and m lists them
// (projection.GroupLister, as the stores' do). Without this option the
// console shows those of the store's own Membership(), when it has one.
func WithMembership(m projection.Membership, groups ...string) Option {
	return func(c *config) { c.members, c.groups = m, groups }
}

// WithRebuild offers a Rebuild action (OpRebuild) for processors, which
// run in this process: it empties a processor's read model and replays
// the log into it (ResetAndRebuild), in the background, and the
// processors page shows its progress. Readers see the read model empty,
// then partial, until the replay is over; in production prefer a new
// version of the projection, which the projections page activates.
func WithRebuild(processors ...*projection.Processor) Option {
	return func(c *config) {
		if c.rebuild == nil {
			c.rebuild = map[string]*projection.Processor{}
		}
		for _, p := range processors {
			c.rebuild[p.ID()] = p
		}
	}
}

// WithUpgrade shows events in the current form of their types, through
// the application's upcasters (an emmett.Events' Upgrade; emmett.UpgradeAny
// for several registries), with the schema version they are stored at;
// a stream's page links to its events as stored. Without it events are
// shown as stored.
func WithUpgrade(upgrade emmett.UpgradeFunc) Option { return func(c *config) { c.upgrade = upgrade } }

// WithLogger sets the logger of the store's failures (slog.Default()
// by default).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithRefresh sets how often the processors page asks for their state
// (1s by default), which the lag chart plots.
func WithRefresh(d time.Duration) Option { return func(c *config) { c.pollEvery = d } }

// DefaultSearchWindow is how many events of the log around an event a
// search by correlation, causation or message id reads (WithSearchWindow).
const DefaultSearchWindow = 2_000

// WithSearchWindow sets how many events of the log around an event the
// links of its correlation and causation ids search (DefaultSearchWindow
// by default): the log has no index on them. The search page offers to
// search ten times wider, up to MaxSearchWindow.
func WithSearchWindow(n int) Option { return func(c *config) { c.window = n } }

// MaxSearchWindow is the most events a search reads.
const MaxSearchWindow = 200_000

// Console is the console's http.Handler.
type Console struct {
	store    Store
	cfg      config
	rebuilds rebuilds
	mux      *http.ServeMux
	pages    *template.Template
	csrf     *http.CrossOriginProtection
}

// New returns the console over store.
func New(store Store, opts ...Option) *Console {
	c := &Console{store: store, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection()}
	c.cfg.pollEvery = time.Second
	c.cfg.window = DefaultSearchWindow
	for _, o := range opts {
		o(&c.cfg)
	}
	if c.cfg.logger == nil {
		c.cfg.logger = slog.Default()
	}
	if m, ok := store.(interface{ Membership() projection.Membership }); ok && c.cfg.members == nil {
		c.cfg.members = m.Membership()
	}
	c.pages = template.Must(template.New("").Funcs(funcs).ParseFS(webFiles, "web/*.html"))
	static, _ := fs.Sub(webFiles, "web/static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	c.routes()
	return c
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
