package postgres

// MigrationTableSQL is dumbo's migration creating dmb_migrations, for the
// compatibility tests to run Node's migrations as Node does.
var MigrationTableSQL = migrationTableSQL

// RecordEnd is recordEnd, for the tests.
var RecordEnd = recordEnd

// ExactAppendSQL is the statement of a one-event append with an exact
// expected version, for the tests to look at its plan.
var ExactAppendSQL = buildAppendSQL(appendExact, false, false)
