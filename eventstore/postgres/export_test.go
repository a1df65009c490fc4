package postgres

// MigrationTableSQL is dumbo's migration creating dmb_migrations, for the
// compatibility tests to run Node's migrations as Node does.
var MigrationTableSQL = migrationTableSQL

// RecordEnd is recordEnd, for the tests.
var RecordEnd = recordEnd
