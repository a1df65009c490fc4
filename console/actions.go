package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/emmett-go/emmett/projection"
)

// versionWait bounds dropping a version, which first waits for an instance
// still running it to stop.
const versionWait = 10 * time.Second

// action runs an action once the authorizer allowed it, then sends the
// browser back to the page it came from, with a notice saying what was
// done.
func (c *Console) action(w http.ResponseWriter, r *http.Request, a Action, back string, run func(ctx context.Context) (string, error)) {
	if status, why := c.authorize(r, a); status != 0 {
		c.refuse(w, r, status, why)
		return
	}
	notice, err := run(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.cfg.prefix+back+"?"+url.Values{"notice": {notice}}.Encode(), http.StatusSeeOther)
}

// parkedAction runs do on the parked event (or, for a retry, the
// parked events of the processor) that the form names.
func (c *Console) parkedAction(w http.ResponseWriter, r *http.Request, op Operation, do func(ctx context.Context, a Action) (string, error)) {
	id, err := intParam(r, "id", 0)
	if err == nil && op == OpDiscardParked && id == 0 {
		err = inputError{"discard takes a parked event's id"}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	a := Action{Op: op, Processor: r.FormValue("processor"), Parked: id}
	c.action(w, r, a, "/parked", func(ctx context.Context) (string, error) { return do(ctx, a) })
}

func (c *Console) retryParked(w http.ResponseWriter, r *http.Request) {
	c.parkedAction(w, r, OpRetryParked, func(ctx context.Context, a Action) (string, error) {
		n, err := c.store.Processors().RequestRetry(ctx, a.Processor, a.Parked)
		if err != nil {
			return "", err
		}
		if a.Parked != 0 && n == 0 {
			return "", fmt.Errorf("%w: %d", projection.ErrParkedNotFound, a.Parked)
		}
		return fmt.Sprintf("Retry asked for %d parked event(s): the instance running the processor carries it out.", n), nil
	})
}

func (c *Console) discardParked(w http.ResponseWriter, r *http.Request) {
	c.parkedAction(w, r, OpDiscardParked, func(ctx context.Context, a Action) (string, error) {
		if err := c.store.Processors().Discard(ctx, a.Processor, a.Parked); err != nil {
			return "", err
		}
		return fmt.Sprintf("Parked event %d discarded.", a.Parked), nil
	})
}

func (c *Console) dropVersion(w http.ResponseWriter, r *http.Request) {
	c.versionAction(w, r, OpDropVersion, "dropped", projection.DropVersion)
}

func (c *Console) activateVersion(w http.ResponseWriter, r *http.Request) {
	c.versionAction(w, r, OpActivateVersion, "is active", projection.ActivateVersion)
}

// versionAction runs do (DropVersion or ActivateVersion) on the version
// of the projection the form names, waiting at most versionWait.
func (c *Console) versionAction(w http.ResponseWriter, r *http.Request, op Operation, done string,
	do func(ctx context.Context, checkpoints projection.CheckpointStore, name string, version int) error) {
	v, err := strconv.Atoi(r.FormValue("version"))
	name := r.FormValue("projection")
	if err != nil || v <= 0 || name == "" {
		c.fail(w, r, inputError{"takes a projection and a version number"})
		return
	}
	a := Action{Op: op, Projection: name, Version: v}
	c.action(w, r, a, "/projections", func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, versionWait)
		defer cancel()
		if err := do(ctx, c.store.Processors(), a.Projection, a.Version); err != nil {
			return "", err
		}
		return fmt.Sprintf("Version %d of projection %s %s.", a.Version, a.Projection, done), nil
	})
}

// rebuilds are the rebuilds the console started, by processor id.
type rebuilds struct {
	mu    sync.Mutex
	state map[string]*rebuildState
}

// rebuildState is a rebuild's progress, and its outcome once it is over.
type rebuildState struct {
	running     bool
	done, total int64
	err         error
}

// describe says how the processor's last rebuild goes or went, "" when
// the console started none.
func (rs *rebuilds) describe(id string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := rs.state[id]
	switch {
	case st == nil:
		return ""
	case st.running && st.total >= 0:
		return fmt.Sprintf("rebuilding: %d of %d events", st.done, st.total)
	case st.running:
		return fmt.Sprintf("rebuilding: %d events", st.done)
	case st.err != nil:
		return "rebuild failed: " + st.err.Error()
	}
	return fmt.Sprintf("rebuilt: %d events", st.done)
}

// start starts the rebuild of p in the background unless one runs; it
// reports whether it started one.
func (rs *rebuilds) start(p *projection.Processor, logger *slog.Logger) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st := rs.state[p.ID()]; st != nil && st.running {
		return false
	}
	if rs.state == nil {
		rs.state = map[string]*rebuildState{}
	}
	st := &rebuildState{running: true, total: -1}
	rs.state[p.ID()] = st
	go func() {
		// Not the request's context: the rebuild outlives the request.
		err := p.ResetAndRebuild(context.Background(), func(pr projection.Progress) {
			rs.mu.Lock()
			st.done, st.total = pr.Done, pr.Total
			rs.mu.Unlock()
		})
		if err != nil {
			logger.Error("console: rebuild failed", "processor", p.ID(), "error", err)
		}
		rs.mu.Lock()
		st.running, st.err = false, err
		rs.mu.Unlock()
	}()
	return true
}

func (c *Console) rebuild(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("processor")
	p, ok := c.cfg.rebuild[id]
	if !ok {
		c.fail(w, r, inputError{fmt.Sprintf("processor %q is not one this console rebuilds", id)})
		return
	}
	c.action(w, r, Action{Op: OpRebuild, Processor: id}, "/processors", func(context.Context) (string, error) {
		if !c.rebuilds.start(p, c.cfg.logger) {
			return "A rebuild of " + id + " is already running.", nil
		}
		return "Rebuild of " + id + " started: its read model is replayed from the beginning of the log.", nil
	})
}
