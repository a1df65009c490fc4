package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emmett-go/emmett/eventstore"
)

// versionRole is what a projector does with its projection's version.
type versionRole uint8

const (
	roleUnknown  versionRole = iota // not registered yet (or a reactor)
	roleActive                      // its version serves reads
	roleBuilding                    // its version is built, to become active
	roleRetired                     // another version replaced it: it idles
)

// versioning is a projector's state about its projection's version.
type versioning struct {
	version int
	baseID  string // the id of version 1's processor

	switching sync.Mutex // one switch attempt at a time

	// Guarded by the Processor's mu.
	role   versionRole
	target eventstore.Position // a building version catches up with at least this
}

// versionCollections is implemented by projections that know the document
// collections of each of their versions (DocumentProjection).
type versionCollections interface {
	versionCollections(version int) []string
}

// record returns the record of version v of the processor's projection,
// kept by processor.
func (p *Processor) record(v int, processor string, status VersionStatus) ProjectionVersion {
	r := ProjectionVersion{Name: p.proj.Name(), Version: v, Status: status, Processor: processor, Kind: "custom"}
	if vc, ok := p.proj.(versionCollections); ok {
		r.Kind, r.Collections = "document", vc.versionCollections(v)
	}
	return r
}

var errNotYet = errors.New("projection: the version has not caught up yet")

// register records the projector's version when its run starts, the
// checkpoint at cp, and decides its role:
//
//   - the active version, or the first one recorded (nothing else serves
//     reads), is active;
//   - a version newer than the active one is building (when the first
//     version recorded is not 1 and a version-1 processor named after the
//     projection has a checkpoint, that is the projection from before it
//     declared versions: version 1 is recorded as the active one);
//   - a version older than the active one, or retired, is retired.
func (p *Processor) register(ctx context.Context, cp eventstore.Position) error {
	name := p.proj.Name()
	legacy := false
	if p.ver.version > 1 {
		_, found, err := p.store.ReadCheckpoint(ctx, p.ver.baseID)
		if err != nil {
			return err
		}
		legacy = found
	}
	var role versionRole
	err := p.store.Commit(ctx, p.id, cp, cp, func(ctx context.Context, tx Tx) error {
		vs, err := p.store.ProjectionVersions(ctx, tx, name)
		if err != nil {
			return err
		}
		mine := find(vs, p.ver.version)
		active, hasActive, _ := activeOf(vs)
		save := func(v ProjectionVersion) error { return p.store.SaveProjectionVersion(ctx, tx, v) }
		me := p.record(p.ver.version, p.id, VersionActive)
		switch {
		case mine != nil && mine.Status == VersionActive:
			// (Several processors may run one version, under ids of their
			// own: the record keeps the first's.)
			role = roleActive
			return nil
		case mine != nil && mine.Status == VersionBuilding && !hasActive:
			role = roleActive
			return save(me)
		case mine != nil && mine.Status == VersionBuilding && active.Version < p.ver.version:
			role = roleBuilding
			return nil
		case mine != nil && mine.Status == VersionBuilding:
			role = roleRetired // a newer version became active meanwhile
			me.Status = VersionRetired
			return save(me)
		case mine != nil:
			role = roleRetired
			return nil
		case !hasActive && len(vs) == 0 && legacy:
			if err := save(p.record(1, p.ver.baseID, VersionActive)); err != nil {
				return err
			}
			role = roleBuilding
			me.Status = VersionBuilding
			return save(me)
		case !hasActive:
			role = roleActive
			return save(me)
		case active.Version < p.ver.version:
			role = roleBuilding
			me.Status = VersionBuilding
			return save(me)
		default:
			role = roleRetired // superseded: not recorded
			return nil
		}
	})
	if err != nil {
		return err
	}
	var target eventstore.Position
	if role == roleBuilding {
		if target, err = p.source.Head(ctx); err != nil {
			return err
		}
		p.cfg.logger.InfoContext(ctx, "building a new version of the projection", "processor", p.id,
			"projection", name, "version", p.ver.version, "target", target.String())
	}
	p.mu.Lock()
	p.ver.role, p.ver.target = role, target
	p.mu.Unlock()
	return nil
}

// role returns the processor's version role.
func (p *Processor) role() versionRole {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ver.role
}

// trySwitch makes a building version active once it has caught up: its
// checkpoint is at or past the head of the source when the build started,
// and at or past the active version's checkpoint (read, and kept from
// moving, in the switch's transaction), so that readers switching to it
// see no fewer events applied than they saw. It reports whether it
// switched; it returns ErrVersionRetired when another version newer than
// the processor's became active meanwhile.
func (p *Processor) trySwitch(ctx context.Context) (bool, error) {
	p.ver.switching.Lock()
	defer p.ver.switching.Unlock()
	p.mu.Lock()
	cp, target, role := p.checkpoint, p.ver.target, p.ver.role
	p.mu.Unlock()
	if role != roleBuilding || cp.Compare(target) < 0 {
		return false, nil
	}
	name := p.proj.Name()
	active, hasActive, err := ActiveVersion(ctx, p.store, name)
	if err != nil {
		return false, err
	}
	if hasActive && active.Version > p.ver.version {
		return false, ErrVersionRetired
	}
	if hasActive {
		acp, _, err := p.store.ReadCheckpoint(ctx, active.Processor)
		if err != nil || acp.Compare(cp) > 0 {
			return false, err
		}
	}
	err = p.store.Commit(ctx, p.id, cp, cp, func(ctx context.Context, tx Tx) error {
		if hasActive {
			acp, _, err := p.store.CheckpointIn(ctx, tx, active.Processor)
			if err != nil {
				return err
			}
			if acp.Compare(cp) > 0 {
				return errNotYet
			}
		}
		vs, err := p.store.ProjectionVersions(ctx, tx, name)
		if err != nil {
			return err
		}
		mine := find(vs, p.ver.version)
		now, hasNow, _ := activeOf(vs)
		if mine == nil || mine.Status != VersionBuilding || hasNow != hasActive || now.Version != active.Version {
			return errNotYet // changed meanwhile: look again next time
		}
		return activate(ctx, p.store, tx, vs, p.ver.version)
	})
	switch {
	case errors.Is(err, errNotYet) || errors.Is(err, ErrCheckpointMoved):
		return false, nil
	case err != nil:
		return false, err
	}
	p.mu.Lock()
	p.ver.role = roleActive
	p.mu.Unlock()
	p.cfg.logger.InfoContext(ctx, "the new version of the projection is active", "processor", p.id,
		"projection", name, "version", p.ver.version, "replaced", active.Version, "checkpoint", cp.String())
	return true, nil
}

// checkVersion looks at the record of the processor's version, for the
// watch: a building version tries to switch; an active one that another
// version replaced returns ErrVersionRetired.
func (p *Processor) checkVersion(ctx context.Context) error {
	switch p.role() {
	case roleBuilding:
		_, err := p.trySwitch(ctx)
		return err
	case roleActive:
		vs, err := p.store.ProjectionVersions(ctx, nil, p.proj.Name())
		if err != nil {
			return err
		}
		if mine := find(vs, p.ver.version); mine == nil || mine.Status != VersionActive {
			return ErrVersionRetired
		}
	}
	return nil
}

// idle waits, while the processor's version is retired, until it is made
// active or building again (ActivateVersion), or ctx ends.
func (p *Processor) idle(ctx context.Context) error {
	p.cfg.logger.InfoContext(ctx, "another version of the projection replaced this one: the processor idles",
		"processor", p.id, "projection", p.proj.Name(), "version", p.ver.version)
	t := time.NewTicker(p.cfg.parkedPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		vs, err := p.store.ProjectionVersions(ctx, nil, p.proj.Name())
		if err != nil {
			if ctx.Err() == nil {
				p.cfg.logger.WarnContext(ctx, "reading the projection's versions", "processor", p.id, "error", err)
			}
			continue
		}
		if mine := find(vs, p.ver.version); mine != nil && mine.Status != VersionRetired {
			return nil
		}
	}
}

// waitProcessor returns the id of the processor WaitFor waits for: the
// one of the active version of a projector's projection (which a
// Collection reads), read from the store each time, when that is another
// version than this processor's; this one otherwise, for a reactor, or
// when no version is recorded.
func (p *Processor) waitProcessor(ctx context.Context) (string, error) {
	if p.proj == nil {
		return p.id, nil
	}
	active, found, err := ActiveVersion(ctx, p.store, p.proj.Name())
	if err != nil || !found || active.Version == p.ver.version {
		return p.id, err // (another processor of the same version is not this one's reads)
	}
	return active.Processor, nil
}

func retiredError(id string) error {
	return fmt.Errorf("processor %q: %w", id, ErrVersionRetired)
}
