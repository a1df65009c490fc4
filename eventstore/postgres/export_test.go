package postgres

// MigrationTableSQL is dumbo's migration creating dmb_migrations, for the
// compatibility tests to run Node's migrations as Node does.
var MigrationTableSQL = migrationTableSQL

// RecordEnd is recordEnd, for the tests.
var RecordEnd = recordEnd

// ExactAppendSQL is the statement of a one-event append with an exact
// expected version, for the tests to look at its plan.
var ExactAppendSQL = buildAppendSQL(appendExact, false, false)

// GroupWaiting returns how many appends wait in the group whose leader
// waits for a connection (0 when none does).
func (s *Store) GroupWaiting() int {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	if g := s.groups.collector; g != nil {
		return len(g.members)
	}
	return 0
}

// IndexName is the name of the index on the field at path of a collection,
// or of its GIN index for projection.ContainsIndex.
func IndexName(collection, path string) string {
	index, _ := indexName(collection, path)
	return index
}
