package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emmett-go/emmett/projection"
)

// memberTable is the heartbeat rows of processor groups' instances.
type memberTable struct {
	mu   sync.Mutex
	rows map[string]map[string]projection.Instance // by group, then instance id
}

// Membership returns the heartbeat rows of the instances of processor
// groups (projection.Group), kept in memory by the clock of the process
// (not WithClock's): the instances of a group share one store.
func (s *Store) Membership() projection.Membership { return membership{s} }

type membership struct{ s *Store }

// Heartbeat implements projection.Membership.
func (m membership) Heartbeat(ctx context.Context, group string, self projection.Instance, ttl time.Duration) ([]projection.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if group == "" || self.ID == "" || ttl <= 0 {
		return nil, fmt.Errorf("memory: heartbeat of instance %q in group %q with TTL %v: %w", self.ID, group, ttl, projection.ErrInvalidGroup)
	}
	t := &m.s.instances
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rows == nil {
		t.rows = map[string]map[string]projection.Instance{}
	}
	rows := t.rows[group]
	if rows == nil {
		rows = map[string]projection.Instance{}
		t.rows[group] = rows
	}
	now := time.Now()
	started := now
	if old, ok := rows[self.ID]; ok && old.Expires.After(now) {
		started = old.Started
	}
	rows[self.ID] = projection.Instance{ID: self.ID, Processors: slices.Clone(self.Processors), Started: started, Expires: now.Add(ttl)}
	for id, r := range rows {
		if !r.Expires.After(now) {
			delete(rows, id)
		}
	}
	return m.live(group, now), nil
}

// Instances implements projection.Membership.
func (m membership) Instances(ctx context.Context, group string) ([]projection.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.s.instances.mu.Lock()
	defer m.s.instances.mu.Unlock()
	return m.live(group, time.Now()), nil
}

// live returns the group's rows that expire after now, sorted by id.
func (m membership) live(group string, now time.Time) []projection.Instance {
	var out []projection.Instance
	for _, r := range m.s.instances.rows[group] {
		if r.Expires.After(now) {
			r.Processors = slices.Clone(r.Processors)
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b projection.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Leave implements projection.Membership.
func (m membership) Leave(ctx context.Context, group, instanceID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.s.instances.mu.Lock()
	defer m.s.instances.mu.Unlock()
	delete(m.s.instances.rows[group], instanceID)
	return nil
}
