package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

var (
	_ eventstore.StreamLister    = (*Store)(nil)
	_ projection.ProcessorLister = (*Store)(nil)
)

// ListStreams implements eventstore.StreamLister. It sorts the matching
// streams on every call: the in-memory store is for tests and prototypes.
func (s *Store) ListStreams(ctx context.Context, q eventstore.StreamQuery) ([]eventstore.StreamInfo, error) {
	q = backend.ResolveStreamQuery(q)
	unlock, err := s.readLock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []eventstore.StreamInfo
	for k, st := range s.streams {
		if k.partition != q.Partition || !strings.HasPrefix(k.name, q.Prefix) || k.name <= q.After || len(st.positions) == 0 {
			continue
		}
		out = append(out, eventstore.StreamInfo{Name: k.name, Partition: k.partition, Type: eventstore.StreamType(k.name),
			Version: int64(len(st.positions))})
	}
	slices.SortFunc(out, func(a, b eventstore.StreamInfo) int { return strings.Compare(a.Name, b.Name) })
	return out[:min(len(out), q.Limit)], nil
}

// ListProcessors implements projection.ProcessorLister: the processors
// with a checkpoint or a held lock, "running" while the lock is held. The
// in-memory store records no instance ids or times.
func (s *Store) ListProcessors(ctx context.Context) ([]projection.ProcessorState, error) {
	unlock, err := s.readLock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids := map[string]bool{}
	for id := range s.checkpoints {
		ids[id] = true
	}
	for id := range s.locks {
		ids[id] = true
	}
	var out []projection.ProcessorState
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		p := projection.ProcessorState{ID: id, Partition: eventstore.DefaultPartition, Status: "stopped", Checkpoint: s.checkpoints[id]}
		if _, held := s.locks[id]; held {
			p.Status = "running"
		}
		out = append(out, p)
	}
	return out, nil
}

// readLock takes the store's read lock for a listing, unless ctx is done
// or the store closed.
func (s *Store) readLock(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	return s.mu.RUnlock, nil
}

var _ projection.GroupLister = membership{}

// Groups implements projection.GroupLister: the groups with a live
// instance.
func (m membership) Groups(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := &m.s.instances
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var out []string
	for g, rows := range t.rows {
		for _, in := range rows {
			if in.Expires.After(now) {
				out = append(out, g)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
