package sqlite

import (
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
)

// Membership returns the heartbeat rows of the instances of processor
// groups (projection.Group) in emt_instances (schema version 6), in
// SQLite's clock: the instances of an application, in several processes,
// find each other through the database file they share.
func (s *Store) Membership() projection.Membership {
	return sqlproc.NewMembership(s.procStore(), sqlproc.MembershipSQL{
		Now:    nowSQL,
		Expiry: `strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || (? / 1000.0) || ' seconds')`,
	})
}
