package postgres

import (
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/projection"
)

// Membership returns the heartbeat rows of the instances of processor
// groups (projection.Group) in emt_instances (migration go/0006), in the
// server's clock: the instances of an application, on any number of hosts,
// find each other through the database they share.
func (s *Store) Membership() projection.Membership {
	return sqlproc.NewMembership(s.procStore(), sqlproc.MembershipSQL{
		Now:    "now()",
		Expiry: "now() + ?::bigint * interval '1 millisecond'",
	})
}
