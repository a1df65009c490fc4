package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds, in migrations/node, the migrations of Emmett for
// Node 0.42 verbatim (as @event-driven-io/emmett-postgresql 0.42.0 renders
// them with dumbo 0.12.7's combineMigrations(): the text Node runs and
// hashes) and, in migrations/go, Emmett for Go's own.
//
//go:embed migrations
var migrationFiles embed.FS

// Migration is one step of the schema, recorded in dmb_migrations (the
// table of Emmett for Node's migration runner, dumbo) once applied.
type Migration struct {
	// Name is the migration's name in dmb_migrations.
	Name string
	// SQL is the text that is run and hashed.
	SQL string
	// Node tells a migration of Emmett for Node (run verbatim, so that
	// Node finds it applied) from one of Emmett for Go.
	Node bool
}

// Hash is the lowercase hex SHA-256 of the SQL, as dumbo records it.
func (m Migration) Hash() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// migrationsLockID is the advisory lock dumbo takes around a migration run;
// taking the same one keeps Go and Node from migrating one database at once.
const migrationsLockID = 999956789

// applicationGo is the application column of Emmett for Go's rows in
// dmb_migrations; Node's rows keep dumbo's default, 'default'.
const applicationGo = "emmett-go"

func readMigration(path string) string {
	b, err := migrationFiles.ReadFile(path)
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	// The files end with a newline that is not part of the migration.
	return strings.TrimSuffix(string(b), "\n")
}

// migrationTableSQL is dumbo's core migration creating dmb_migrations; dumbo
// runs it before every migration run and never records it.
var migrationTableSQL = readMigration("migrations/node/00_dumbo_migrationTable_001.sql")

// Migrations returns the schema's migrations in the order they run: the four
// of Emmett for Node 0.42 (verbatim, with the names and hashes Node records)
// and then Emmett for Go's own.
func Migrations() []Migration {
	return []Migration{
		{Name: "emt:postgresql:eventstore:0.38.7:migrate-events-to-messages", Node: true,
			SQL: readMigration("migrations/node/01_emt_postgresql_eventstore_0.38.7_migrate-events-to-messages.sql")},
		{Name: "emt:postgresql:eventstore:0.42.0:from-subscriptions-to-processors", Node: true,
			SQL: readMigration("migrations/node/02_emt_postgresql_eventstore_0.42.0_from-subscriptions-to-processors.sql")},
		{Name: "emt:postgresql:eventstore:0.42.0-2:add-processor-projection-functions", Node: true,
			SQL: readMigration("migrations/node/03_emt_postgresql_eventstore_0.42.0-2_add-processor-projection-functions.sql")},
		{Name: "emt:postgresql:eventstore:initial", Node: true,
			SQL: readMigration("migrations/node/04_emt_postgresql_eventstore_initial.sql")},
		{Name: "emt:go:postgresql:eventstore:0001:global-read-index",
			SQL: readMigration("migrations/go/0001_global_read_index.sql")},
		{Name: "emt:go:postgresql:eventstore:0002:global-position-index",
			SQL: readMigration("migrations/go/0002_global_position_index.sql")},
		{Name: "emt:go:postgresql:eventstore:0003:parked-messages",
			SQL: readMigration("migrations/go/0003_parked_messages.sql")},
		{Name: "emt:go:postgresql:eventstore:0004:parked-schema-version",
			SQL: readMigration("migrations/go/0004_parked_schema_version.sql")},
		{Name: "emt:go:postgresql:eventstore:0005:stream-message-ids",
			SQL: readMigration("migrations/go/0005_stream_message_ids.sql")},
		{Name: "emt:go:postgresql:eventstore:0006:instances",
			SQL: readMigration("migrations/go/0006_instances.sql")},
		{Name: "emt:go:postgresql:eventstore:0007:streams-keyset",
			SQL: readMigration("migrations/go/0007_streams_keyset.sql")},
		{Name: "emt:go:postgresql:eventstore:0008:streams-name-index",
			SQL: readMigration("migrations/go/0008_streams_name_index.sql")},
	}
}

// ErrMigrationMismatch is matched (errors.Is) by a MigrationMismatchError.
var ErrMigrationMismatch = errors.New("postgres: recorded migration differs from this version's")

// MigrationMismatchError reports an Emmett for Go migration recorded with
// another hash than this version's: the database was migrated by a version
// whose migration of that name differs. Nothing is migrated.
type MigrationMismatchError struct {
	// Name is the migration's name; Recorded the hash in dmb_migrations,
	// Expected this version's.
	Name, Recorded, Expected string
}

// Error implements error.
func (e *MigrationMismatchError) Error() string {
	return fmt.Sprintf("postgres: migration %q is recorded with hash %s, this version has %s", e.Name, e.Recorded, e.Expected)
}

// Is reports whether target is ErrMigrationMismatch.
func (e *MigrationMismatchError) Is(target error) bool { return target == ErrMigrationMismatch }

// Migrate creates or upgrades the schema in the database the pool connects
// to, the way Emmett for Node's migration runner does: in one transaction,
// under dumbo's advisory lock, running each migration not yet recorded in
// dmb_migrations and recording it there.
//
// A database migrated by Emmett for Node 0.42 has Node's four migrations
// recorded already, so only Emmett for Go's own run; one created here has
// Node's recorded with the same names and hashes, so Node runs nothing. A
// Node migration recorded with another hash (by another Node version) is
// taken as applied. Emmett for Go's own migrations add objects beside
// Node's (indexes on emt_messages, the table of parked events
// emt_parked_messages) and change none of Node's.
//
// Migrate is idempotent and cheap when nothing is to be done.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	migrations := Migrations()
	if done, err := migrated(ctx, pool, migrations); err == nil && done {
		return nil
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationsLockID)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, migrationTableSQL); err != nil {
			return fmt.Errorf("creating dmb_migrations: %w", err)
		}
		for _, m := range migrations {
			var recorded string
			err := tx.QueryRow(ctx, "SELECT sql_hash FROM dmb_migrations WHERE name = $1", m.Name).Scan(&recorded)
			switch {
			case err == nil && (recorded == m.Hash() || m.Node):
				continue
			case err == nil:
				return &MigrationMismatchError{Name: m.Name, Recorded: recorded, Expected: m.Hash()}
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			// Simple protocol: a migration is several statements.
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("migration %q: %w", m.Name, err)
			}
			application := "default"
			if !m.Node {
				application = applicationGo
			}
			if _, err := tx.Exec(ctx, "INSERT INTO dmb_migrations (name, application, sql_hash) VALUES ($1, $2, $3)",
				m.Name, application, m.Hash()); err != nil {
				return fmt.Errorf("recording migration %q: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrating the schema: %w", err)
	}
	return nil
}

// migrated reports whether every migration is recorded already, without
// taking any lock.
func migrated(ctx context.Context, pool *pgxpool.Pool, migrations []Migration) (bool, error) {
	names := make([]string, len(migrations))
	for i, m := range migrations {
		names[i] = m.Name
	}
	rows, err := pool.Query(ctx, "SELECT name, sql_hash FROM dmb_migrations WHERE name = ANY($1)", names)
	if err != nil {
		return false, err
	}
	recorded, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var nh [2]string
		err := r.Scan(&nh[0], &nh[1])
		return nh, err
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // no dmb_migrations yet
			return false, nil
		}
		return false, err
	}
	hashes := make(map[string]string, len(recorded))
	for _, nh := range recorded {
		hashes[nh[0]] = nh[1]
	}
	for _, m := range migrations {
		h, ok := hashes[m.Name]
		if !ok || (!m.Node && h != m.Hash()) {
			return false, nil
		}
	}
	return true, nil
}
