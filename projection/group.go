package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/instrument"
	"github.com/google/uuid"
)

// Instance is an instance of an application in a Group, as its heartbeat
// row in the store says.
type Instance struct {
	// ID names the instance; unique in its group.
	ID string
	// Processors are the ids of the processors the instance can run.
	Processors []string
	// Started is when the instance's row was created (by the store's
	// clock); Expires, when it stops counting as live unless it beats
	// again. Heartbeat ignores both in the instance it is given.
	Started, Expires time.Time
}

// Membership keeps the heartbeat rows of the instances of applications
// (emt_instances on the SQL stores): a store's Membership method returns
// it, and Group uses it to know which instances are live. An instance is
// live until its row expires; expired rows are ignored, and deleted by the
// next heartbeat of their group.
type Membership interface {
	// Heartbeat records that self, an instance of group, is live for ttl
	// from now by the store's clock, with the processors it lists (its
	// row is created the first time), deletes the group's expired rows,
	// and returns the live instances of the group, self included, sorted
	// by id. An empty group or instance id, or a ttl that is not
	// positive, is an error matching ErrInvalidGroup.
	Heartbeat(ctx context.Context, group string, self Instance, ttl time.Duration) ([]Instance, error)
	// Instances returns the live instances of group, sorted by id.
	Instances(ctx context.Context, group string) ([]Instance, error)
	// Leave deletes the instance's row, so that the others do not wait
	// for it to expire. Leaving without a row is not an error.
	Leave(ctx context.Context, group, instanceID string) error
}

// ErrInvalidGroup is the error of a Group, or a heartbeat, that cannot
// run: an empty group name or instance id, no processors, two processors
// of one id, a ttl that is not positive.
var ErrInvalidGroup = errors.New("projection: invalid processor group")

// DefaultInstanceTTL is how long an instance of a Group counts as live
// after its last heartbeat, unless WithInstanceTTL says otherwise. The
// processors of an instance that died are taken over by the others within
// the longer of about 1.25 times the TTL (the TTL and one heartbeat
// interval) and the time their locks take to be freed, which runs from
// the death too: at once for PostgreSQL's session locks, which die with
// the connection; a lease's duration for leases (postgres.DefaultLease,
// 20 s, with WithLeaseLocks or WithPooler; 5 s on SQLite). By default,
// within about 21 s at most.
const DefaultInstanceTTL = 10 * time.Second

// GroupOption configures a Group.
type GroupOption func(*groupConfig)

type groupConfig struct {
	instance string
	ttl      time.Duration
	logger   *slog.Logger
}

// WithInstanceID names the instance in its group; by default a new id
// each time the Group is created ("<host name>:<process id>:<UUIDv7>"). Two
// live instances must not share an id.
func WithInstanceID(id string) GroupOption { return func(c *groupConfig) { c.instance = id } }

// WithInstanceTTL sets how long the instance counts as live after each
// heartbeat (DefaultInstanceTTL by default); it beats every quarter of
// that. This bounds how long the processors of an instance that died wait
// for another to take them over; a joining instance gets its share within
// a quarter of it. Every instance of a group should use the same value.
func WithInstanceTTL(d time.Duration) GroupOption { return func(c *groupConfig) { c.ttl = d } }

// WithGroupLogger sets the logger of the group's heartbeats and
// rebalancing (an Info record each time the processors this instance runs
// change); by default warnings and errors go to slog's default logger.
func WithGroupLogger(l *slog.Logger) GroupOption { return func(c *groupConfig) { c.logger = l } }

// Group runs a set of processors spread across the live instances of an
// application: every instance creates a Group of the same name with the
// same processors and runs it. Each processor runs on one live instance
// at a time, each instance running ⌊P/N⌋ or ⌈P/N⌉ of the P processors of
// its N live instances (see Assign) once the group has settled, and at
// most one more than that while processors change hands. (An instance
// that finds itself alone runs them all until the others join: when
// several start at once, the first runs every processor for up to a
// quarter of the TTL.)
//
// The instances register with heartbeat rows in the store (Membership):
// no other service is involved. On each heartbeat an instance reads the
// live instances, computes the assignment, stops the processors no longer
// assigned to it, and starts those newly assigned. Each processor's lock
// still guarantees that one instance at a time runs it: a processor moving
// from one instance to another starts on the new one once the old one has
// let it go (at its next heartbeat, or when its lock is freed after it
// died), and the checkpoint fencing of the store (ErrLockLost) keeps an
// instance that lost a processor's lock from committing a batch.
type Group struct {
	members    Membership
	name       string
	processors []*Processor
	cfg        groupConfig

	mu       sync.Mutex
	started  bool
	live     []Instance
	assigned []string
}

// NewGroup returns the group name of processors, with its instances'
// heartbeats kept by members (a store's Membership()). Run runs it.
func NewGroup(members Membership, name string, processors []*Processor, opts ...GroupOption) *Group {
	cfg := groupConfig{ttl: DefaultInstanceTTL}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.logger = instrument.Logger(cfg.logger)
	if cfg.instance == "" {
		host, _ := os.Hostname()
		u, err := uuid.NewV7()
		if err != nil {
			u = uuid.New()
		}
		cfg.instance = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), u)
	}
	return &Group{members: members, name: name, processors: slices.Clone(processors), cfg: cfg}
}

// InstanceID returns this instance's id in the group.
func (g *Group) InstanceID() string { return g.cfg.instance }

// Instances returns the live instances of the group as the last heartbeat
// found them.
func (g *Group) Instances() []Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.live)
}

// Assigned returns the ids of the processors assigned to this instance by
// the last heartbeat, sorted: those it runs, or is about to run once their
// previous instance lets them go.
func (g *Group) Assigned() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.assigned)
}

// Running returns the ids of the group's processors running in this
// instance now (holding their locks), sorted.
func (g *Group) Running() []string {
	var out []string
	for _, p := range g.processors {
		if _, running := p.Checkpoint(); running {
			out = append(out, p.ID())
		}
	}
	slices.Sort(out)
	return out
}

// groupRun is a processor's Run in this instance.
type groupRun struct {
	cancel   context.CancelFunc
	done     chan struct{}
	stopping bool // cancelled by the group
}

// runResult is what a processor's Run returned, and whether the group had
// cancelled it.
type runResult struct {
	id        string
	err       error
	cancelled bool
}

// Run runs the group in this instance until ctx ends (it then stops the
// processors it runs, deletes its heartbeat row and returns nil) or a
// processor fails (it stops the others, deletes its row, and returns that
// processor's error, as Processor.Run does).
//
// It beats every quarter of the instance TTL. A processor no longer
// assigned to this instance is stopped (its batch in progress rolled
// back, its lock released) while the others go on; one newly assigned
// starts at once and waits for its lock. While processors stop, this
// instance runs at most one more than its share. While the store cannot
// be reached, Run keeps trying, and once its row may have expired (a TTL
// without a heartbeat) it stops its processors until it beats again, as
// the others take them over. The first heartbeat failing otherwise (no
// emt_instances table: a database not migrated), or any failing because
// the store is closed, ends Run with the error.
func (g *Group) Run(ctx context.Context) error {
	procs, err := g.validate()
	if err != nil {
		return err
	}
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()
		return fmt.Errorf("%w: group %q runs already in this instance", ErrInvalidGroup, g.name)
	}
	g.started = true
	g.mu.Unlock()
	defer g.setAssignment(nil, nil)
	defer func() {
		g.mu.Lock()
		g.started = false
		g.mu.Unlock()
	}()

	self := Instance{ID: g.cfg.instance, Processors: slices.Sorted(maps.Keys(procs))}
	runs := map[string]*groupRun{}
	results := make(chan runResult, len(procs))
	var mine []string // the processors assigned to this instance
	stop := func(id string) {
		if r := runs[id]; !r.stopping {
			r.stopping = true
			r.cancel()
		}
	}
	// rebalance stops the processors not in mine, and starts those in
	// mine, as long as this instance runs at most one more than mine.
	rebalance := func() (released, taken []string) {
		for _, id := range slices.Sorted(maps.Keys(runs)) {
			if !slices.Contains(mine, id) && !runs[id].stopping {
				stop(id)
				released = append(released, id)
			}
		}
		for _, id := range mine {
			if _, ok := runs[id]; !ok && len(runs) <= len(mine) {
				runs[id] = g.start(ctx, procs[id], results)
				taken = append(taken, id)
			}
		}
		return released, taken
	}
	defer func() {
		for id := range runs {
			stop(id)
		}
		for _, r := range runs {
			<-r.done
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ttl)
		defer cancel()
		if err := g.members.Leave(lctx, g.name, g.cfg.instance); err != nil {
			g.cfg.logger.WarnContext(ctx, "processor group: leaving", "group", g.name, "instance", g.cfg.instance, "error", err)
		}
	}()

	every := g.cfg.ttl / 4
	lastBeat, beaten := time.Now(), false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-results:
			delete(runs, r.id)
			if ctx.Err() != nil {
				return nil
			}
			if !r.cancelled {
				if r.err == nil {
					r.err = fmt.Errorf("projection: processor %q ended", r.id)
				}
				return r.err
			}
			rebalance() // one stopped: start those waiting for room
			continue
		case <-timer.C:
		}
		timer.Reset(every)
		hctx, cancel := context.WithTimeout(ctx, g.cfg.ttl*3/4) // a later one is of no use
		live, err := g.members.Heartbeat(hctx, g.name, self, g.cfg.ttl)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if fatalHeartbeat(err, beaten) {
				return fmt.Errorf("projection: group %q: heartbeat: %w", g.name, err)
			}
			g.cfg.logger.WarnContext(ctx, "processor group: heartbeat failed", "group", g.name, "instance", g.cfg.instance, "error", err)
			if time.Since(lastBeat) >= g.cfg.ttl && mine != nil {
				g.cfg.logger.WarnContext(ctx, "processor group: presumed dead by the others, stopping the processors",
					"group", g.name, "instance", g.cfg.instance)
				mine = nil
				rebalance()
				g.setAssignment(nil, nil)
			}
			continue
		}
		lastBeat, beaten = time.Now(), true
		before := mine
		mine = Assign(live)[g.cfg.instance]
		if mine == nil {
			mine = []string{}
		}
		released, taken := rebalance()
		if len(released) > 0 || len(taken) > 0 || !slices.Equal(before, mine) {
			g.cfg.logger.InfoContext(ctx, "processor group: rebalanced", "group", g.name, "instance", g.cfg.instance,
				"instances", len(live), "assigned", mine, "released", released, "taken", taken)
		}
		g.setAssignment(live, mine)
	}
}

// fatalHeartbeat reports whether the failure of a heartbeat ends Run: the
// store is closed, the heartbeat is invalid, or the first heartbeat
// failed other than because the store was out of reach (a database not
// migrated). Once the group has beaten, other failures are taken as
// passing.
func fatalHeartbeat(err error, beaten bool) bool {
	switch {
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, ErrInvalidGroup):
		return true
	case beaten:
		return false
	}
	return !errors.Is(err, eventstore.ErrUnavailable) && !errors.Is(err, eventstore.ErrOutcomeUnknown) && !errors.Is(err, context.DeadlineExceeded)
}

func (g *Group) setAssignment(live []Instance, mine []string) {
	g.mu.Lock()
	g.live, g.assigned = live, slices.Clone(mine)
	g.mu.Unlock()
}

// start runs p until the group cancels it; what Run returned goes to
// results.
func (g *Group) start(ctx context.Context, p *Processor, results chan<- runResult) *groupRun {
	pctx, cancel := context.WithCancel(ctx)
	r := &groupRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		err := p.Run(pctx)
		results <- runResult{id: p.ID(), err: err, cancelled: pctx.Err() != nil}
	}()
	return r
}

// validate checks the group and returns its processors by id.
func (g *Group) validate() (map[string]*Processor, error) {
	if g.name == "" {
		return nil, fmt.Errorf("%w: empty group name", ErrInvalidGroup)
	}
	if g.cfg.ttl <= 0 {
		return nil, fmt.Errorf("%w: instance TTL %v", ErrInvalidGroup, g.cfg.ttl)
	}
	if len(g.processors) == 0 {
		return nil, fmt.Errorf("%w: group %q has no processors", ErrInvalidGroup, g.name)
	}
	procs := make(map[string]*Processor, len(g.processors))
	for _, p := range g.processors {
		if p == nil {
			return nil, fmt.Errorf("%w: group %q: a nil processor", ErrInvalidGroup, g.name)
		}
		if procs[p.ID()] != nil {
			return nil, fmt.Errorf("%w: group %q: two processors of id %q", ErrInvalidGroup, g.name, p.ID())
		}
		procs[p.ID()] = p
	}
	return procs, nil
}
