package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrSchemaTooNew is matched (with errors.Is) by the error of opening a
// database whose schema was written by a newer version of this package: its
// migration version is higher than [SchemaVersion]. The store refuses it
// rather than write to tables it does not know. Use *SchemaVersionError for
// the versions.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version of emmett supports")

// SchemaVersion is the schema version this package creates and upgrades
// databases to: the number of its last migration.
const SchemaVersion = 6

// SchemaVersionError is the error of opening a database at a schema version
// this package does not know. It matches ErrSchemaTooNew.
type SchemaVersionError struct {
	// Found is the database's schema version.
	Found int
	// Supported is the newest version this package knows (SchemaVersion).
	Supported int
}

// Error says which versions were found and are supported.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("sqlite: database schema is at version %d, but this version of emmett knows versions up to %d: upgrade emmett to open it", e.Found, e.Supported)
}

// Is reports whether target is ErrSchemaTooNew.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrSchemaTooNew }

// A migration moves the schema from version-1 to version. Migrations are
// append-only: a released migration is never edited, a change is a new one.
type migration struct {
	version     int
	description string
	statements  []string
}

// migrations are applied in order; migrations[i].version == i+1.
var migrations = []migration{
	{
		version:     1,
		description: "event store tables",
		statements: []string{
			// One row per stream: its version (the position of its last
			// event). The append checks and moves stream_position in one
			// statement. JSON columns are TEXT, not JSON/JSONB: a declared
			// type without TEXT in it gives NUMERIC affinity, and SQLite
			// would turn a JSON text such as 1.50 into a number.
			`CREATE TABLE emt_streams (
				stream_id       TEXT    NOT NULL,
				stream_position INTEGER NOT NULL DEFAULT 0,
				partition       TEXT    NOT NULL DEFAULT 'emt:default',
				stream_type     TEXT    NOT NULL,
				stream_metadata TEXT    NOT NULL DEFAULT '{}',
				is_archived     INTEGER NOT NULL DEFAULT 0,
				PRIMARY KEY (stream_id, partition, is_archived)
			) WITHOUT ROWID`,
			// One row per event. AUTOINCREMENT: with one writer the log has
			// no gaps (a rolled-back append takes no position), and a
			// position is never reused, even after the last rows go.
			`CREATE TABLE emt_messages (
				global_position        INTEGER PRIMARY KEY AUTOINCREMENT,
				stream_id              TEXT    NOT NULL,
				stream_position        INTEGER NOT NULL,
				partition              TEXT    NOT NULL DEFAULT 'emt:default',
				message_kind           TEXT    NOT NULL DEFAULT 'E',
				message_schema_version TEXT    NOT NULL DEFAULT '1',
				message_id             TEXT    NOT NULL,
				message_type           TEXT    NOT NULL,
				message_data           TEXT    NOT NULL,
				message_metadata       TEXT    NOT NULL DEFAULT '{}',
				created                TEXT    NOT NULL,
				is_archived            INTEGER NOT NULL DEFAULT 0,
				UNIQUE (stream_id, partition, is_archived, stream_position)
			)`,
			`CREATE TABLE emt_processors (
				processor_id              TEXT    NOT NULL,
				version                   INTEGER NOT NULL DEFAULT 1,
				partition                 TEXT    NOT NULL DEFAULT 'emt:default',
				status                    TEXT    NOT NULL DEFAULT 'stopped',
				last_processed_checkpoint TEXT    NOT NULL,
				processor_instance_id     TEXT    NOT NULL DEFAULT 'emt:unknown',
				created_at                TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
				last_updated              TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
				PRIMARY KEY (processor_id, partition, version)
			) WITHOUT ROWID`,
			`CREATE TABLE emt_projections (
				name         TEXT    NOT NULL,
				version      INTEGER NOT NULL DEFAULT 1,
				partition    TEXT    NOT NULL DEFAULT 'emt:default',
				type         TEXT    NOT NULL,
				kind         TEXT    NOT NULL,
				status       TEXT    NOT NULL,
				definition   TEXT    NOT NULL DEFAULT '{}',
				created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
				last_updated TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
				PRIMARY KEY (name, partition, version)
			) WITHOUT ROWID`,
		},
	},
	{
		version:     2,
		description: "index for reading one partition of the global log",
		statements: []string{
			// ReadAll in a partition (a processor's source bound to a
			// partition), the partition's head and its count: without it
			// they scan the whole log from the checkpoint on.
			`CREATE INDEX emt_messages_partition_global ON emt_messages (partition, global_position)`,
		},
	},
	{
		version:     3,
		description: "parked events of processors",
		statements: []string{
			// The events a processor parked (projection.ParkOnFailure): a
			// copy of the event, the last error, the attempts, the first
			// and last failures (times as emt_messages.created), and when
			// a retry was asked for. Emmett for Go's own table.
			`CREATE TABLE emt_parked_messages (
				id                 INTEGER PRIMARY KEY AUTOINCREMENT,
				processor_id       TEXT    NOT NULL,
				message_id         TEXT    NOT NULL,
				stream_id          TEXT    NOT NULL,
				stream_position    INTEGER NOT NULL,
				global_position    INTEGER NOT NULL,
				transaction_id     INTEGER NOT NULL DEFAULT 0,
				message_type       TEXT    NOT NULL,
				message_data       TEXT    NOT NULL,
				message_metadata   TEXT    NOT NULL DEFAULT '{}',
				created            TEXT    NOT NULL,
				error              TEXT    NOT NULL,
				attempts           INTEGER NOT NULL,
				first_failed_at    TEXT    NOT NULL,
				last_failed_at     TEXT    NOT NULL,
				retry_requested_at TEXT,
				UNIQUE (processor_id, message_id)
			)`,
		},
	},
	{
		version:     4,
		description: "schema version of parked events",
		statements: []string{
			// A parked event keeps the schema version it was stored at, so
			// that a retry decodes it through the upcasters.
			`ALTER TABLE emt_parked_messages ADD COLUMN message_schema_version TEXT NOT NULL DEFAULT '1'`,
		},
	},
	{
		version:     5,
		description: "message ids unique in a stream",
		statements: []string{
			// An append repeated with the same message ids (a retry after
			// an unknown outcome) clashes on it, and gets the first one's
			// result instead of storing the events twice.
			`CREATE UNIQUE INDEX emt_messages_stream_message_id ON emt_messages (stream_id, partition, is_archived, message_id)`,
		},
	},
	{
		version:     6,
		description: "heartbeat rows of processor groups' instances",
		statements: []string{
			// One row per live instance of a group (projection.Group):
			// the processors it can run (a JSON array of their ids), when
			// it joined, its last heartbeat and when it stops counting as
			// live (times as SQLite's 'now' writes them, so that text
			// order is time order). Emmett for Go's own table.
			`CREATE TABLE emt_instances (
				group_id       TEXT NOT NULL,
				instance_id    TEXT NOT NULL,
				processors     TEXT NOT NULL DEFAULT '[]',
				started_at     TEXT NOT NULL,
				last_heartbeat TEXT NOT NULL,
				expires_at     TEXT NOT NULL,
				PRIMARY KEY (group_id, instance_id)
			) WITHOUT ROWID`,
		},
	},
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS emt_migrations (
	version     INTEGER PRIMARY KEY,
	description TEXT    NOT NULL,
	applied_at  TEXT    NOT NULL
)`

// schemaVersion returns the database's schema version: 0 for a database
// without the migrations table.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var exists int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'emt_migrations'`).Scan(&exists)
	if err != nil || exists == 0 {
		return 0, err
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM emt_migrations`).Scan(&v)
	return v, err
}

// migrate brings the database on conn to SchemaVersion, in one IMMEDIATE
// transaction, so that two processes opening a new database at once do not
// both create it. A database already up to date costs one read.
func migrate(ctx context.Context, conn *sql.Conn, now func() time.Time) (err error) {
	v, err := schemaVersion(ctx, conn)
	if err != nil {
		return fmt.Errorf("sqlite: reading the schema version: %w", err)
	}
	if v > SchemaVersion {
		return &SchemaVersionError{Found: v, Supported: SchemaVersion}
	}
	if v == SchemaVersion {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: starting the migration: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlite: creating emt_migrations: %w", err)
	}
	// Read again under the write lock: another process may have migrated
	// in between.
	if v, err = schemaVersion(ctx, conn); err != nil {
		return fmt.Errorf("sqlite: reading the schema version: %w", err)
	}
	if v > SchemaVersion {
		return &SchemaVersionError{Found: v, Supported: SchemaVersion}
	}
	for _, m := range migrations[v:] {
		for _, stmt := range m.statements {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlite: migration %d (%s): %w", m.version, m.description, err)
			}
		}
		applied := appendCreated(nil, now().UTC())
		if _, err := conn.ExecContext(ctx, `INSERT INTO emt_migrations (version, description, applied_at) VALUES (?, ?, ?)`,
			m.version, m.description, string(applied)); err != nil {
			return fmt.Errorf("sqlite: recording migration %d: %w", m.version, err)
		}
	}
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: committing the migration: %w", err)
	}
	return nil
}
