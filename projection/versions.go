package projection

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/emmett-go/emmett/eventstore"
)

// A projection declares a version (WithVersion for a document projection,
// CustomVersion for a custom one; 1 when it declares none). Each version
// keeps a read model of its own (a document projection's collection is
// named by VersionedName) and is run by a processor of its own, with a
// checkpoint of its own. Stores record the versions of each projection
// (emt_projections, the table Emmett for Node keeps for projections'
// names, versions and statuses), and exactly one of them is active: the
// one a Collection reads from.
//
// Bumping the version is how a read model is rebuilt without downtime (a
// blue-green rebuild): run a processor of the new version beside the one
// of the current version. The new one registers its version as building
// and replays the log into its own read model, in the background, while
// the current version keeps serving reads and keeping up with appends.
// Once the new version has caught up (with the log as it was when the
// build started, and with the current version's checkpoint), its processor
// makes it active in one transaction: from then on every instance's
// Collection reads it. The old version's processor notices and stops
// (Run idles, in case the old version is made active again), and its read
// model stays until it is dropped (DropVersion, or emmett projections
// -drop-version).
//
// Versions are for processors: an inline projection (a store's
// WithProjections) writes to its own version's read model and is not
// recorded.
//
// Run every version's processors on feeds of one kind: the switch compares
// the new version's checkpoint with the current one's, and the polling
// feed and logical replication order events differently. On logical
// replication each version has a slot of its own, and a replaced
// version's processor, idle, no longer reads it: the slot keeps WAL until
// it is dropped (replication's Source.DropSlot), so drop the version and
// its slot once no instance runs it.
//
// Transactions on versions lock in one order, so that they cannot
// deadlock: the processor's own checkpoint row (Commit), then another
// version's checkpoint (CheckpointIn), then the projection's record
// (ProjectionVersions with a tx), then the records' rows.

// VersionStatus is the state of a recorded version of a projection.
type VersionStatus string

const (
	// VersionActive is the version reads resolve to: one per projection.
	VersionActive VersionStatus = "active"
	// VersionBuilding is a version its processor builds in the
	// background; it becomes active once it has caught up.
	VersionBuilding VersionStatus = "building"
	// VersionRetired is a version a newer one replaced; its read model
	// stays until dropped. ("inactive" in emt_projections.)
	VersionRetired VersionStatus = "inactive"
)

// ProjectionVersion is the record of a version of a projection.
type ProjectionVersion struct {
	// Name is the projection's name.
	Name string
	// Version is the version's number, from 1.
	Version int
	// Status is the version's state.
	Status VersionStatus
	// Processor is the id of the processor that keeps the version.
	Processor string
	// Kind is "document" for a document projection, "custom" otherwise.
	Kind string
	// Collections are the document collections the version writes
	// (dropped with it); none for a custom projection, whose tables are
	// its own.
	Collections []string
	// Created and Updated are when the record was made and last changed
	// (set by the store).
	Created, Updated time.Time
}

// VersionStore records the versions of projections, beside the processors'
// checkpoints. Store backends implement it (in emt_projections); a
// CheckpointStore embeds it. Its methods that take a Tx run in a
// transaction of the CheckpointStore's Commit.
type VersionStore interface {
	// ProjectionVersions returns the recorded versions of the projection
	// named name (of every projection when name is ""), by name then
	// version. With a tx, it reads in tx and, for a name, holds the
	// projection's record locked until tx ends: processors deciding on
	// versions of one projection take turns. With a nil tx, it reads
	// outside any transaction.
	ProjectionVersions(ctx context.Context, tx Tx, name string) ([]ProjectionVersion, error)
	// SaveProjectionVersion inserts or updates, in tx, the record of
	// v.Name's version v.Version (Created and Updated are the store's).
	SaveProjectionVersion(ctx context.Context, tx Tx, v ProjectionVersion) error
	// CheckpointIn reads a processor's checkpoint in tx, and keeps it
	// from moving until tx ends (another instance's Commit of it waits).
	CheckpointIn(ctx context.Context, tx Tx, processorID string) (eventstore.Position, bool, error)
	// DropProjectionVersion removes, in one transaction of its own, the
	// version's document collections, its processor's checkpoint and
	// parked events, and its record.
	DropProjectionVersion(ctx context.Context, v ProjectionVersion) error
}

// VersionResolver is implemented by the document stores that know which
// version of a projection is active (the stores' Documents()): a
// projection's Collection reads the active version's documents through
// it.
type VersionResolver interface {
	// ActiveVersion returns the active version of the named projection,
	// and whether one is recorded.
	ActiveVersion(ctx context.Context, projection string) (version int, found bool, err error)
}

// Versioned is implemented by projections that declare a version (every
// projection of this package does; 1 unless told otherwise).
type Versioned interface {
	// Version returns the projection's version, from 1.
	Version() int
}

// VersionOf returns p's version: its Version() when it is Versioned, 1
// otherwise.
func VersionOf(p Projection) int {
	if v, ok := p.(Versioned); ok && v.Version() > 0 {
		return v.Version()
	}
	return 1
}

// VersionedName returns the name of version v of a collection (or of a
// processor id) named name: name itself for version 1, name + "_v" + v
// after, so that version 1 keeps the names a projection had before it
// declared versions.
func VersionedName(name string, v int) string {
	if v <= 1 {
		return name
	}
	return name + "_v" + strconv.Itoa(v)
}

// ErrVersionActive is matched by the error of DropVersion for the active
// version of a projection.
var ErrVersionActive = errors.New("projection: the version is active")

// ErrVersionNotFound is matched by the error of DropVersion and
// ActivateVersion for a version that is not recorded.
var ErrVersionNotFound = errors.New("projection: no such projection version")

// ErrVersionBuilding is matched by the error of ActivateVersion for a
// version being built: it becomes active by itself once caught up.
var ErrVersionBuilding = errors.New("projection: the version is being built")

// ErrVersionRetired is matched by the error of RunUntil and CatchUp for a
// processor whose version is no longer the active one nor being built.
var ErrVersionRetired = errors.New("projection: the projection's version was replaced by another")

// Versions returns the recorded versions of the projection named name (of
// every projection when name is ""), from a store's Processors().
func Versions(ctx context.Context, store VersionStore, name string) ([]ProjectionVersion, error) {
	return store.ProjectionVersions(ctx, nil, name)
}

// ActiveVersion returns the active version of the named projection, and
// whether one is recorded.
func ActiveVersion(ctx context.Context, store VersionStore, name string) (ProjectionVersion, bool, error) {
	vs, err := store.ProjectionVersions(ctx, nil, name)
	if err != nil {
		return ProjectionVersion{}, false, err
	}
	return activeOf(vs)
}

// activeOf returns the active version of vs: the highest one recorded as
// active, should there be several (the stores' ActiveVersion picks the
// same).
func activeOf(vs []ProjectionVersion) (ProjectionVersion, bool, error) {
	var active ProjectionVersion
	found := false
	for _, v := range vs {
		if v.Status == VersionActive && (!found || v.Version > active.Version) {
			active, found = v, true
		}
	}
	return active, found, nil
}

func find(vs []ProjectionVersion, version int) *ProjectionVersion {
	for i := range vs {
		if vs[i].Version == version {
			return &vs[i]
		}
	}
	return nil
}

// DropVersion removes version of the projection named name: its read
// model (the document collections it wrote), its processor's checkpoint
// and parked events, and its record. The active version cannot be dropped
// (the error matches ErrVersionActive). It first takes the version's
// processor lock, so that it waits (until ctx ends) for an instance still
// running the version to notice that it was replaced and stop.
func DropVersion(ctx context.Context, checkpoints CheckpointStore, name string, version int) error {
	v, err := droppable(ctx, checkpoints, name, version)
	if err != nil {
		return err
	}
	lock, err := checkpoints.Lock(ctx, v.Processor)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	// Read it again under the lock: it may have been made active since.
	if v, err = droppable(ctx, checkpoints, name, version); err != nil {
		return err
	}
	return checkpoints.DropProjectionVersion(ctx, v)
}

// droppable returns the record of a version that is not the active one.
func droppable(ctx context.Context, store VersionStore, name string, version int) (ProjectionVersion, error) {
	v, err := recorded(ctx, store, name, version)
	if err == nil && v.Status == VersionActive {
		err = fmt.Errorf("%w: %s version %d serves reads: activate another version first", ErrVersionActive, name, version)
	}
	return v, err
}

// recorded returns the record of a version, or an error matching
// ErrVersionNotFound.
func recorded(ctx context.Context, store VersionStore, name string, version int) (ProjectionVersion, error) {
	vs, err := store.ProjectionVersions(ctx, nil, name)
	if err != nil {
		return ProjectionVersion{}, err
	}
	v := find(vs, version)
	if v == nil {
		return ProjectionVersion{}, fmt.Errorf("%w: %s version %d", ErrVersionNotFound, name, version)
	}
	return *v, nil
}

// ActivateVersion makes a retired version of the projection named name
// the active one again at once, in one transaction, and retires the
// version that was: to go back to a version whose read model is still
// there. Readers read it from that moment, as far as it had got when it
// was retired: its processor, where it idles, starts again within its
// watch interval (WithWatchInterval) and catches up from its checkpoint.
// A version being built cannot be activated (ErrVersionBuilding): it
// becomes active by itself once it has caught up.
func ActivateVersion(ctx context.Context, checkpoints CheckpointStore, name string, version int) error {
	v, err := recorded(ctx, checkpoints, name, version)
	if err != nil {
		return err
	}
	if v.Status == VersionBuilding {
		return fmt.Errorf("%w: %s version %d becomes active once it has caught up", ErrVersionBuilding, name, version)
	}
	// The transaction moves the version's checkpoint nowhere; it is tried
	// again while the version's processor, retired a moment ago, still
	// moves it or holds its lock (it stops within its watch interval).
	for attempt := 1; ; attempt++ {
		cp, _, err := checkpoints.ReadCheckpoint(ctx, v.Processor)
		if err != nil {
			return err
		}
		err = checkpoints.Commit(ctx, v.Processor, cp, cp, func(ctx context.Context, tx Tx) error {
			vs, err := checkpoints.ProjectionVersions(ctx, tx, name)
			if err != nil {
				return err
			}
			if find(vs, version) == nil {
				return fmt.Errorf("%w: %s version %d", ErrVersionNotFound, name, version)
			}
			return activate(ctx, checkpoints, tx, vs, version)
		})
		if err == nil || attempt == activateAttempts || !(errors.Is(err, ErrCheckpointMoved) || errors.Is(err, ErrLockLost)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(activatePause):
		}
	}
}

// How ActivateVersion tries again while the version's processor stops.
const (
	activateAttempts = 50
	activatePause    = 100 * time.Millisecond
)

// activate records version as the active one of vs (all of one
// projection's versions, read in tx) and the one that was as retired.
func activate(ctx context.Context, store VersionStore, tx Tx, vs []ProjectionVersion, version int) error {
	for _, v := range vs {
		switch {
		case v.Version == version && v.Status != VersionActive:
			v.Status = VersionActive
		case v.Version != version && v.Status == VersionActive:
			v.Status = VersionRetired
		default:
			continue
		}
		if err := store.SaveProjectionVersion(ctx, tx, v); err != nil {
			return err
		}
	}
	return nil
}
