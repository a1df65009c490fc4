package sqlproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// The SQL stores record projections' versions in emt_projections, Emmett
// for Node's table, one row per version (name, partition 'emt:default',
// version): type 'a' (asynchronous), kind "document" or "custom", status
// (projection.VersionStatus: active, building, inactive), and in
// definition, a JSON object with the processor's id ("processor") and the
// document collections of the version ("collections").

// VersionSQL is what differs between the SQL stores' statements on
// versions.
type VersionSQL struct {
	// Now is the SQL of the current time, as the store writes it.
	Now string
	// LockName, when set, is a statement that locks a projection's
	// versions (its one argument, the name) until the transaction ends;
	// SQLite, with its single writer, needs none.
	LockName string
	// ForShare ends a SELECT that keeps the rows it reads from being
	// changed until the transaction ends ("" for SQLite).
	ForShare string
	// DropCollection returns the statement dropping a collection's table.
	DropCollection func(name string) string
	// Dropped, when set, is told of the collections a drop removed.
	Dropped func(names []string)
}

// Versions implements projection.VersionStore over emt_projections.
type Versions struct {
	st  Store
	sql VersionSQL
}

// NewVersions returns the projection versions of st.
func NewVersions(st Store, sql VersionSQL) *Versions { return &Versions{st: st, sql: sql} }

var _ projection.VersionStore = (*Versions)(nil)

// ActiveVersionSQL reads the active version of a projection (one
// argument, its name, with ? as placeholder).
const ActiveVersionSQL = `SELECT version FROM emt_projections WHERE name = ? AND partition = 'emt:default' AND status = 'active' ORDER BY version DESC LIMIT 1`

const (
	versionColumns  = `name, version, status, kind, definition, created_at, last_updated`
	versionsSQL     = `SELECT ` + versionColumns + ` FROM emt_projections WHERE partition = 'emt:default'`
	checkpointInSQL = `SELECT last_processed_checkpoint FROM emt_processors WHERE processor_id = ? AND partition = 'emt:default' AND version = 1`
)

// definition is what a version's definition column holds.
type definition struct {
	Processor   string   `json:"processor,omitempty"`
	Collections []string `json:"collections,omitempty"`
}

// ProjectionVersions implements projection.VersionStore.
func (v *Versions) ProjectionVersions(ctx context.Context, tx projection.Tx, name string) ([]projection.ProjectionVersion, error) {
	q, args := versionsSQL, []any(nil)
	if name != "" {
		q, args = q+` AND name = ?`, []any{name}
	}
	q += ` ORDER BY name, version`
	var rows Rows
	var closeRows func()
	var err error
	if tx == nil {
		rows, closeRows, err = v.st.Query(ctx, v.st.sql(q), args...)
	} else {
		if name != "" && v.sql.LockName != "" {
			if _, err := v.st.ExecIn(ctx, tx, v.st.sql(v.sql.LockName), name); err != nil {
				return nil, err
			}
		}
		rows, closeRows, err = v.st.QueryIn(ctx, tx, v.st.sql(q), args...)
	}
	if err != nil {
		return nil, err
	}
	defer closeRows()
	var out []projection.ProjectionVersion
	for rows.Next() {
		var r projection.ProjectionVersion
		var status string
		var def []byte
		if err := rows.Scan(&r.Name, &r.Version, &status, &r.Kind, &def, v.st.timeDest(&r.Created), v.st.timeDest(&r.Updated)); err != nil {
			return nil, v.st.fail(ctx, "reading projection versions", err)
		}
		r.Status = projection.VersionStatus(status)
		var d definition
		if len(def) > 0 {
			if err := json.Unmarshal(def, &d); err != nil {
				return nil, v.st.fail(ctx, fmt.Sprintf("reading the definition of projection %s version %d", r.Name, r.Version), err)
			}
		}
		r.Processor, r.Collections = d.Processor, d.Collections
		if r.Processor == "" {
			r.Processor = projection.VersionedName(r.Name, r.Version)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, v.st.fail(ctx, "reading projection versions", err)
	}
	return out, nil
}

// SaveProjectionVersion implements projection.VersionStore.
func (v *Versions) SaveProjectionVersion(ctx context.Context, tx projection.Tx, r projection.ProjectionVersion) error {
	if r.Name == "" || r.Version < 1 {
		return v.st.fail(ctx, "saving a projection version", fmt.Errorf("invalid name %q or version %d", r.Name, r.Version))
	}
	def, err := json.Marshal(definition{Processor: r.Processor, Collections: r.Collections})
	if err != nil {
		return v.st.fail(ctx, "saving a projection version", err)
	}
	q := `INSERT INTO emt_projections (name, partition, version, type, kind, status, definition)
VALUES (?, 'emt:default', ?, 'a', ?, ?, ?)
ON CONFLICT (name, partition, version) DO UPDATE SET kind = excluded.kind, status = excluded.status,
    definition = excluded.definition, last_updated = ` + v.sql.Now
	_, err = v.st.ExecIn(ctx, tx, v.st.sql(q), r.Name, r.Version, r.Kind, string(r.Status), v.st.JSON(def))
	return err
}

// CheckpointIn implements projection.VersionStore.
func (v *Versions) CheckpointIn(ctx context.Context, tx projection.Tx, processorID string) (eventstore.Position, bool, error) {
	rows, closeRows, err := v.st.QueryIn(ctx, tx, v.st.sql(checkpointInSQL+v.sql.ForShare), processorID)
	if err != nil {
		return eventstore.Position{}, false, err
	}
	defer closeRows()
	if !rows.Next() {
		return eventstore.Position{}, false, rows.Err()
	}
	var text string
	if err := rows.Scan(&text); err != nil {
		return eventstore.Position{}, false, v.st.fail(ctx, "reading the checkpoint of processor "+processorID, err)
	}
	return ParseCheckpoint(v.st.Backend, processorID, text)
}

// DropProjectionVersion implements projection.VersionStore: nothing is
// dropped if the version is active (made so since the caller looked) or
// gone; the error then matches projection.ErrVersionActive.
func (v *Versions) DropProjectionVersion(ctx context.Context, r projection.ProjectionVersion) error {
	for _, c := range r.Collections {
		if err := projection.ValidateCollection(c); err != nil {
			return v.st.fail(ctx, fmt.Sprintf("dropping projection %s version %d", r.Name, r.Version), err)
		}
	}
	if r.Processor == "" {
		return v.st.fail(ctx, "dropping a projection version", errors.New("empty processor id"))
	}
	// In the order of the other transactions on versions: the processor's
	// row, then the projection's name, then its records.
	err := v.st.InTx(ctx, func(exec func(query string, args ...any) (int64, error)) error {
		for _, st := range []struct {
			q   string
			arg any
		}{
			{`DELETE FROM emt_processors WHERE processor_id = ? AND partition = 'emt:default'`, r.Processor},
			{`DELETE FROM emt_parked_messages WHERE processor_id = ?`, r.Processor},
		} {
			if _, err := exec(v.st.sql(st.q), st.arg); err != nil {
				return err
			}
		}
		if v.sql.LockName != "" {
			if _, err := exec(v.st.sql(v.sql.LockName), r.Name); err != nil {
				return err
			}
		}
		n, err := exec(v.st.sql(`DELETE FROM emt_projections WHERE name = ? AND partition = 'emt:default' AND version = ? AND status <> 'active'`), r.Name, r.Version)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w or %w: %s version %d", projection.ErrVersionActive, projection.ErrVersionNotFound, r.Name, r.Version)
		}
		for _, c := range r.Collections {
			if _, err := exec(v.sql.DropCollection(c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if v.sql.Dropped != nil {
		v.sql.Dropped(r.Collections)
	}
	return nil
}
