package sqlproc

import (
	"context"
	"slices"

	"github.com/emmett-go/emmett/projection"
)

var _ projection.GroupLister = (*Membership)(nil)

// Groups implements projection.GroupLister: the groups with a live row in
// emt_instances.
func (m *Membership) Groups(ctx context.Context) ([]string, error) {
	rows, closeRows, err := m.st.Query(ctx, m.st.sql(`SELECT DISTINCT group_id FROM emt_instances WHERE expires_at > `+m.sql.Now))
	if err != nil {
		return nil, err
	}
	defer closeRows()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, m.st.fail(ctx, "reading the groups of instances", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, m.st.fail(ctx, "reading the groups of instances", err)
	}
	slices.Sort(out) // in Go's order: the database's collation may differ
	return out, nil
}
