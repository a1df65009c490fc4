package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// versionKey names a version of a projection.
type versionKey struct {
	name    string
	version int
}

// projectionVersions is the projection.VersionStore of Processors: the
// records in the store's versions, guarded by its mu. Saves in a Commit's
// transaction are kept with its other changes.
type projectionVersions struct{ s *Store }

// ProjectionVersions implements projection.VersionStore. In a transaction
// of Commit, the store's mu is held already.
func (v projectionVersions) ProjectionVersions(ctx context.Context, tx projection.Tx, name string) ([]projection.ProjectionVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ptx *procTx
	if tx != nil {
		var ok bool
		if ptx, ok = tx.(*procTx); !ok || ptx.docs.s != v.s {
			return nil, errNoTx
		}
	} else {
		v.s.mu.RLock()
		defer v.s.mu.RUnlock()
		if v.s.closed {
			return nil, eventstore.ErrClosed
		}
	}
	var out []projection.ProjectionVersion
	for k, r := range v.s.versions {
		if name == "" || k.name == name {
			if ptx != nil {
				if staged, ok := ptx.versions[k]; ok {
					r = staged
				}
			}
			out = append(out, r)
		}
	}
	if ptx != nil {
		for k, r := range ptx.versions {
			if _, ok := v.s.versions[k]; !ok && (name == "" || k.name == name) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b projection.ProjectionVersion) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// SaveProjectionVersion implements projection.VersionStore.
func (v projectionVersions) SaveProjectionVersion(ctx context.Context, tx projection.Tx, r projection.ProjectionVersion) error {
	ptx, ok := tx.(*procTx)
	if !ok || ptx.docs.s != v.s {
		return errNoTx
	}
	k := versionKey{r.Name, r.Version}
	now := v.s.cfg.now()
	r.Created, r.Updated = now, now
	if old, ok := v.s.versions[k]; ok {
		r.Created = old.Created
	}
	r.Collections = slices.Clone(r.Collections)
	if ptx.versions == nil {
		ptx.versions = map[versionKey]projection.ProjectionVersion{}
	}
	ptx.versions[k] = r
	return ctx.Err()
}

// CheckpointIn implements projection.VersionStore: the store's mu, held by
// the Commit that runs tx, keeps every checkpoint from moving.
func (v projectionVersions) CheckpointIn(ctx context.Context, tx projection.Tx, processorID string) (eventstore.Position, bool, error) {
	ptx, ok := tx.(*procTx)
	if !ok || ptx.docs.s != v.s {
		return eventstore.Position{}, false, errNoTx
	}
	cp, found := v.s.checkpoints[processorID]
	return cp, found, ctx.Err()
}

// DropProjectionVersion implements projection.VersionStore.
func (v projectionVersions) DropProjectionVersion(ctx context.Context, r projection.ProjectionVersion) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	if v.s.closed {
		return eventstore.ErrClosed
	}
	k := versionKey{r.Name, r.Version}
	if cur, ok := v.s.versions[k]; !ok || cur.Status == projection.VersionActive {
		return fmt.Errorf("memory: %w or %w: %s version %d", projection.ErrVersionActive, projection.ErrVersionNotFound, r.Name, r.Version)
	}
	for _, c := range r.Collections {
		delete(v.s.docs, c)
	}
	delete(v.s.checkpoints, r.Processor)
	v.s.parked.events = slices.DeleteFunc(v.s.parked.events, func(e projection.ParkedEvent) bool { return e.Processor == r.Processor })
	delete(v.s.versions, k)
	return nil
}

// ActiveVersion implements projection.VersionResolver, for the
// projections' Collections.
func (d storeDocs) ActiveVersion(ctx context.Context, name string) (int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	d.s.mu.RLock()
	defer d.s.mu.RUnlock()
	if d.s.closed {
		return 0, false, eventstore.ErrClosed
	}
	v := 0
	for k, r := range d.s.versions {
		if k.name == name && r.Status == projection.VersionActive {
			v = max(v, k.version) // the highest, as projection.ActiveVersion
		}
	}
	return v, v > 0, nil
}
