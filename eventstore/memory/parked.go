package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// parkedSet is the events processors parked, in memory, guarded by the
// store's mu. Its zero value is empty.
type parkedSet struct {
	events []projection.ParkedEvent // by ID
	lastID int64
}

// procTx is the transaction of a Commit: the documents' changes and the
// parked events', committed together (the store's mu held throughout).
type procTx struct {
	projection.Tx
	docs     *memTx
	parks    []projection.ParkedEvent
	unparks  []unparked
	versions map[versionKey]projection.ProjectionVersion // saved
}

type unparked struct {
	processor string
	id        int64 // 0: all of the processor's
}

func newProcTx(s *Store) *procTx {
	docs := newTx(s)
	return &procTx{Tx: docs.projectionTx(), docs: docs}
}

// commit applies the transaction; the caller holds the store's mu.
func (tx *procTx) commit() {
	tx.docs.commit()
	for k, r := range tx.versions {
		tx.docs.s.versions[k] = r
	}
	ps := &tx.docs.s.parked
	for _, u := range tx.unparks {
		ps.events = slices.DeleteFunc(ps.events, func(e projection.ParkedEvent) bool {
			return e.Processor == u.processor && (u.id == 0 || e.ID == u.id)
		})
	}
	for _, e := range tx.parks {
		i := slices.IndexFunc(ps.events, func(p projection.ParkedEvent) bool {
			return p.Processor == e.Processor && p.Event.MessageID == e.Event.MessageID
		})
		if i >= 0 {
			p := &ps.events[i]
			p.Attempts += e.Attempts
			p.Error, p.LastFailure, p.RetryRequested = e.Error, e.LastFailure, false
			continue
		}
		ps.lastID++
		e.ID = ps.lastID
		e.RetryRequested = false
		e.Event.Data = slices.Clone(e.Event.Data)
		ps.events = append(ps.events, e)
	}
}

// parkedEvents is the projection.ParkedEvents of Processors.
type parkedEvents struct{ s *Store }

var errNoTx = errors.New("memory: not a transaction of the store's Processors().Commit")

// Park implements projection.ParkedEvents: e is kept with the
// transaction's other changes when it commits.
func (p parkedEvents) Park(ctx context.Context, tx projection.Tx, e projection.ParkedEvent) error {
	ptx, ok := tx.(*procTx)
	if !ok || ptx.docs.s != p.s {
		return errNoTx
	}
	if e.Processor == "" {
		return errors.New("memory: parking an event: empty processor id")
	}
	ptx.parks = append(ptx.parks, e)
	return ctx.Err()
}

// Unpark implements projection.ParkedEvents.
func (p parkedEvents) Unpark(ctx context.Context, tx projection.Tx, processorID string, id int64) error {
	ptx, ok := tx.(*procTx)
	if !ok || ptx.docs.s != p.s {
		return errNoTx
	}
	// The store's mu is held by the Commit that runs tx.
	if id != 0 && p.find(processorID, id) < 0 {
		return notParked(processorID, id)
	}
	ptx.unparks = append(ptx.unparks, unparked{processorID, id})
	return ctx.Err()
}

// find returns the index of the parked event id of the processor ("" any),
// or -1. The caller holds the store's mu.
func (p parkedEvents) find(processorID string, id int64) int {
	return slices.IndexFunc(p.s.parked.events, func(e projection.ParkedEvent) bool {
		return e.ID == id && (processorID == "" || e.Processor == processorID)
	})
}

func notParked(processorID string, id int64) error {
	return fmt.Errorf("memory: processor %q: parked event %d: %w", processorID, id, projection.ErrParkedNotFound)
}

// Parked implements projection.ParkedEvents.
func (p parkedEvents) Parked(ctx context.Context, f projection.ParkedFilter) ([]projection.ParkedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.s.mu.RLock()
	defer p.s.mu.RUnlock()
	if p.s.closed {
		return nil, eventstore.ErrClosed
	}
	var out []projection.ParkedEvent
	for _, e := range p.s.parked.events {
		if (f.Processor == "" || e.Processor == f.Processor) && (f.ID == 0 || e.ID == f.ID) && (!f.RetryRequested || e.RetryRequested) {
			out = append(out, e)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
	}
	return out, nil
}

// update runs fn on each parked event of the processor ("" any) with the
// given id (0 any), with the store's mu held, and returns how many there
// were.
func (p parkedEvents) update(ctx context.Context, processorID string, id int64, fn func(*projection.ParkedEvent)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.s.closed {
		return 0, eventstore.ErrClosed
	}
	var n int64
	for i := range p.s.parked.events {
		e := &p.s.parked.events[i]
		if (processorID == "" || e.Processor == processorID) && (id == 0 || e.ID == id) {
			fn(e)
			n++
		}
	}
	return n, nil
}

// RequestRetry implements projection.ParkedEvents.
func (p parkedEvents) RequestRetry(ctx context.Context, processorID string, id int64) (int64, error) {
	return p.update(ctx, processorID, id, func(e *projection.ParkedEvent) { e.RetryRequested = true })
}

// RetryFailed implements projection.ParkedEvents.
func (p parkedEvents) RetryFailed(ctx context.Context, processorID string, id int64, errText string, at time.Time) error {
	if id == 0 {
		return notParked(processorID, id)
	}
	n, err := p.update(ctx, processorID, id, func(e *projection.ParkedEvent) {
		e.Attempts++
		e.Error, e.LastFailure, e.RetryRequested = errText, at, false
	})
	if err == nil && n == 0 {
		err = notParked(processorID, id)
	}
	return err
}

// Discard implements projection.ParkedEvents.
func (p parkedEvents) Discard(ctx context.Context, processorID string, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.s.closed {
		return eventstore.ErrClosed
	}
	i := p.find(processorID, id)
	if id == 0 || i < 0 {
		return notParked(processorID, id)
	}
	p.s.parked.events = slices.Delete(p.s.parked.events, i, i+1)
	return nil
}
