package sqlproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emmett-go/emmett/projection"
)

// The SQL stores keep the heartbeat rows of processor groups' instances
// in emt_instances, a table of Emmett for Go's own: group_id, instance_id,
// processors (a JSON array of the ids of the processors the instance can
// run), started_at, last_heartbeat and expires_at, in the database's
// clock, so that instances on several hosts compare them on one clock.

// MembershipSQL is what differs between the SQL stores' statements on
// instances.
type MembershipSQL struct {
	// Now is the SQL of the current time, as the store writes it.
	Now string
	// Expiry is the SQL of the current time plus a number of milliseconds,
	// the statement's argument ?.
	Expiry string
}

// Membership implements projection.Membership over emt_instances.
type Membership struct {
	st  Store
	sql MembershipSQL
}

// NewMembership returns the instances' heartbeat rows of st.
func NewMembership(st Store, sql MembershipSQL) *Membership { return &Membership{st: st, sql: sql} }

var _ projection.Membership = (*Membership)(nil)

// Heartbeat implements projection.Membership: the instance's row is
// written and the group's expired rows deleted in one transaction; the
// live rows are read after it.
func (m *Membership) Heartbeat(ctx context.Context, group string, self projection.Instance, ttl time.Duration) ([]projection.Instance, error) {
	if group == "" || self.ID == "" || ttl <= 0 {
		return nil, fmt.Errorf("%s: heartbeat of instance %q in group %q with TTL %v: %w", m.st.Backend, self.ID, group, ttl, projection.ErrInvalidGroup)
	}
	procs := self.Processors
	if procs == nil {
		procs = []string{}
	}
	list, err := json.Marshal(procs)
	if err != nil {
		return nil, m.st.fail(ctx, "writing an instance's heartbeat", err)
	}
	upsert := `INSERT INTO emt_instances (group_id, instance_id, processors, started_at, last_heartbeat, expires_at)
VALUES (?, ?, ?, ` + m.sql.Now + `, ` + m.sql.Now + `, ` + m.sql.Expiry + `)
ON CONFLICT (group_id, instance_id) DO UPDATE SET processors = excluded.processors,
    started_at = CASE WHEN emt_instances.expires_at > excluded.last_heartbeat THEN emt_instances.started_at ELSE excluded.started_at END,
    last_heartbeat = excluded.last_heartbeat, expires_at = excluded.expires_at`
	expired := `DELETE FROM emt_instances WHERE group_id = ? AND expires_at <= ` + m.sql.Now
	err = m.st.InTx(ctx, func(exec func(query string, args ...any) (int64, error)) error {
		if _, err := exec(m.st.sql(upsert), group, self.ID, string(list), ttl.Milliseconds()); err != nil {
			return err
		}
		_, err := exec(m.st.sql(expired), group)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.Instances(ctx, group)
}

// Instances implements projection.Membership.
func (m *Membership) Instances(ctx context.Context, group string) ([]projection.Instance, error) {
	q := `SELECT instance_id, processors, started_at, expires_at FROM emt_instances WHERE group_id = ? AND expires_at > ` + m.sql.Now
	rows, closeRows, err := m.st.Query(ctx, m.st.sql(q), group)
	if err != nil {
		return nil, err
	}
	defer closeRows()
	var out []projection.Instance
	for rows.Next() {
		var in projection.Instance
		var list string
		if err := rows.Scan(&in.ID, &list, m.st.timeDest(&in.Started), m.st.timeDest(&in.Expires)); err != nil {
			return nil, m.st.fail(ctx, "reading the instances of group "+group, err)
		}
		if err := json.Unmarshal([]byte(list), &in.Processors); err != nil {
			return nil, m.st.fail(ctx, fmt.Sprintf("reading the processors of instance %q of group %q", in.ID, group), err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, m.st.fail(ctx, "reading the instances of group "+group, err)
	}
	// In Go's order of strings: the database's collation may differ.
	slices.SortFunc(out, func(a, b projection.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Leave implements projection.Membership.
func (m *Membership) Leave(ctx context.Context, group, instanceID string) error {
	if group == "" || instanceID == "" {
		return m.st.fail(ctx, "leaving a group", errors.New("empty group or instance id"))
	}
	_, err := m.st.Exec(ctx, m.st.sql(`DELETE FROM emt_instances WHERE group_id = ? AND instance_id = ?`), group, instanceID)
	return err
}
