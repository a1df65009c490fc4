package memory

import (
	"context"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

var _ backend.Log = (*Store)(nil)

// Head implements backend.Log: the position of the last event.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return eventstore.Position{GlobalPosition: int64(len(s.log))}, nil
}

// Source returns a polling source over the store's global log, woken at
// once by every append.
func (s *Store) Source(opts ...projection.PollOption) projection.Source {
	cfg := backend.ResolvePoll(opts...)
	if cfg.Wake == nil {
		cfg.Wake = s.appended.C
	}
	return backend.NewPollingSource(s, cfg)
}

// lock is the Lock of Processors.
func (s *Store) lock(ctx context.Context, processorID string) (projection.Lock, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, eventstore.ErrClosed
		}
		held, ok := s.locks[processorID]
		if !ok {
			held = make(chan struct{})
			s.locks[processorID] = held
			s.mu.Unlock()
			return &memLock{s: s, id: processorID, held: held}, nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type memLock struct {
	s    *Store
	id   string
	held chan struct{}
}

// Lost implements projection.Lock: an in-memory lock is never lost.
func (l *memLock) Lost() <-chan struct{} { return nil }

// Release implements projection.Lock.
func (l *memLock) Release(context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.locks[l.id] == l.held {
		delete(l.s.locks, l.id)
		close(l.held)
	}
	return nil
}

// readCheckpoint is the ReadCheckpoint of Processors.
func (s *Store) readCheckpoint(ctx context.Context, processorID string) (eventstore.Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	cp, ok := s.checkpoints[processorID]
	return cp, ok, nil
}

// commit is the Commit of Processors.
func (s *Store) commit(ctx context.Context, processorID string, from, to eventstore.Position, fn func(context.Context, projection.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	if s.checkpoints[processorID] != from {
		return projection.ErrCheckpointMoved
	}
	tx := newProcTx(s)
	if fn != nil {
		if err := fn(ctx, tx); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx.commit()
	s.checkpoints[processorID] = to
	return nil
}

// Processors returns the store's processor checkpoints, locks, parked
// events and projection versions, where projection.NewProjectionProcessor and NewReactorProcessor
// keep their progress: in memory.
func (s *Store) Processors() projection.CheckpointStore {
	return backend.CheckpointFuncs{LockFunc: s.lock, ReadFunc: s.readCheckpoint, CommitFunc: s.commit, ParkedEvents: parkedEvents{s},
		VersionStore: projectionVersions{s}}
}
