package postgres_test

// Compatibility with Emmett for Node 0.42 (@event-driven-io/emmett-postgresql):
// the migrations the store embeds (migrations/node) are Node's SQL exactly as
// Node runs and hashes it (rendered from @event-driven-io/emmett-postgresql
// 0.42.0, dumbo 0.12.7, by combineMigrations()), which the hashes Node records
// prove; testdata/node-0.42 holds a pg_dump of the schema Node creates.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeMigrations are Node's migrations with the hashes Node 0.42 records.
var nodeMigrations = []struct{ name, hash string }{
	{"emt:postgresql:eventstore:0.38.7:migrate-events-to-messages", "8cdd2af05e47081fae213dc48e020845bdb384e0ddfd47cab8185b8bb5a64037"},
	{"emt:postgresql:eventstore:0.42.0:from-subscriptions-to-processors", "92e4f894f1d97f6665af1d6a753736d80aa3c41ba465c51a8c18b1671569faa8"},
	{"emt:postgresql:eventstore:0.42.0-2:add-processor-projection-functions", "cbc4d85089b625360df8ddcb4e8b2fa6654986476ebbd5b00162781b401584a5"},
	{"emt:postgresql:eventstore:initial", "54628492aa411becc6b5f5a71d7464d5a636343bff1ef994e8272710bcabdcfe"},
}

// migrationTableHash is the SHA-256 of dumbo 0.12.7's migration creating
// dmb_migrations (which dumbo runs every time and never records).
const migrationTableHash = "eac815b28cf865ab225f9d2a2e0461c7f5772fadc755284d5d03935d46656b32"

// nodeSQL is the text of one of Node's migrations, by name: the store's
// own, which TestNodeMigrationsAreVerbatim checks against Node's hashes.
func nodeSQL(t testing.TB, name string) string {
	t.Helper()
	for _, m := range postgres.Migrations() {
		if m.Node && m.Name == name {
			return m.SQL
		}
	}
	t.Fatalf("no Node migration %q", name)
	return ""
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// nodeMigrate does what Node's migration runner (dumbo 0.12.7) does on
// start-up, and returns the names of the migrations it ran. Like dumbo, it
// fails on a migration recorded with another hash.
func nodeMigrate(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	var ran []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET statement_timeout = 10000"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(999956789) AS locked"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, postgres.MigrationTableSQL); err != nil {
			return err
		}
		for _, m := range nodeMigrations {
			sql := nodeSQL(t, m.name)
			var hash string
			err := tx.QueryRow(ctx, `SELECT sql_hash as "sqlHash" FROM dmb_migrations WHERE name = $1`, m.name).Scan(&hash)
			switch {
			case err == nil && hash == sha256Hex(sql):
				continue
			case err == nil:
				return fmt.Errorf("Migration hash mismatch for %q. Aborting migration.", m.name)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO dmb_migrations (name, sql_hash) VALUES ($1, $2)", m.name, sha256Hex(sql)); err != nil {
				return err
			}
			ran = append(ran, m.name)
		}
		return nil
	})
	require.NoError(t, err)
	return ran
}

func TestNodeMigrationsAreVerbatim(t *testing.T) {
	t.Parallel()
	ours := postgres.Migrations()
	require.Greater(t, len(ours), len(nodeMigrations), "Node's, then ours")
	for i, m := range nodeMigrations {
		assert.Equal(t, m.name, ours[i].Name)
		assert.True(t, ours[i].Node)
		assert.Equal(t, m.hash, ours[i].Hash(), "migration %s is Node's text, byte for byte: the hash Node 0.42 records", m.name)
	}
	assert.Equal(t, migrationTableHash, sha256Hex(postgres.MigrationTableSQL), "dumbo's migration table, byte for byte")
	assert.False(t, ours[len(ours)-1].Node)
	assert.True(t, strings.HasPrefix(ours[len(ours)-1].Name, "emt:go:"))
}

type migrationRow struct {
	ID                      int
	Name, Application, Hash string
}

func migrationRows(t testing.TB, pool *pgxpool.Pool) []migrationRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT id, name, application, sql_hash FROM dmb_migrations ORDER BY id")
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[migrationRow])
	require.NoError(t, err)
	return out
}

// TestNodeOpensOurDatabase: a database whose schema we created is one Node
// starts on without running or refusing anything, and has what Node's own
// migrations would have created.
func TestNodeOpensOurDatabase(t *testing.T) {
	t.Parallel()
	s, db := openStore(t)
	pool := adminPool(t, db)

	rows := migrationRows(t, pool)
	require.Len(t, rows, len(postgres.Migrations()))
	for i, m := range nodeMigrations {
		assert.Equal(t, migrationRow{ID: i + 1, Name: m.name, Application: "default", Hash: m.hash}, rows[i], "Node's row, as Node writes it")
	}
	assert.Equal(t, "emmett-go", rows[len(nodeMigrations)].Application)

	assert.Empty(t, nodeMigrate(t, pool), "Node finds every migration applied")

	// Node's schema objects, and only ours beside them.
	nodeDB := pgtest.NewDatabase(t)
	nodePool := adminPool(t, nodeDB)
	assert.Len(t, nodeMigrate(t, nodePool), len(nodeMigrations), "a fresh database: Node runs all")
	want, got := schemaOf(t, nodePool), schemaOf(t, pool)
	var extra []string
	for _, o := range got {
		if !slices.Contains(want, o) {
			extra = append(extra, o)
		}
	}
	for _, o := range want {
		assert.Contains(t, got, o, "Node's schema object is in ours")
	}
	for _, o := range extra {
		assert.Regexp(t, `transaction_global|transaction_id_global_posit|global_position_idx|emt_parked_messages|stream_message_id|stream_id_partition_is_archiv|emt_instances|name_keyset|partition_is_archived_stream_|streams_name_c|_stream_id_idx`, o, "an object only Emmett for Go adds")
	}
	assert.NotEmpty(t, extra)

	// Node appends to and reads a stream we wrote, with its own SQL.
	ctx := context.Background()
	_, err := s.AppendToStream(ctx, "shoppingCart-go", []eventstore.EventData{
		{Type: "ProductItemAdded", Data: []byte(`{"productId":"p1","quantity":2}`), Metadata: emmett.Metadata{CorrelationID: "corr-1"}},
	}, eventstore.ExpectNoStream())
	require.NoError(t, err)
	nodeAppend(t, pool, "shoppingCart-go", "shoppingCart", 1, `{"productId":"p2","quantity":1}`)
	events := nodeReadStream(t, pool, "shoppingCart-go")
	require.Len(t, events, 2)
	assert.Equal(t, nodeEvent{StreamPosition: 1, Type: "ProductItemAdded", Data: `{"quantity": 2, "productId": "p1"}`, Metadata: `{"correlationId": "corr-1"}`}, events[0].withoutIDs())
	assert.Equal(t, int64(2), events[1].StreamPosition)

	// Our reader sees Node's event.
	read := collect(t, s.ReadStream(ctx, "shoppingCart-go"))
	require.Len(t, read, 2)
	assert.Equal(t, "NodeEvent", read[1].Type)
	assert.JSONEq(t, `{"productId":"p2","quantity":1}`, string(read[1].Data))
}

// TestWeOpenNodesDatabase: a database Node created and wrote to is one we
// open, read and append to.
func TestWeOpenNodesDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	pool := adminPool(t, db)
	nodeMigrate(t, pool)
	nodeAppend(t, pool, "shoppingCart-123", "shoppingCart", 0, `{"productId":"p1","quantity":2,"big":"10"}`)
	nodeAppend(t, pool, "noDashStream", "emt:unknown", 0, `{}`)
	nodeAppend(t, pool, "shoppingCart-123", "shoppingCart", 1, `{"at":"2024-01-01T00:00:00.000Z"}`)
	// Node puts metadata such as this into message_metadata: Go reads it
	// as metadata, without the envelope's fields.
	_, err := pool.Exec(ctx, `UPDATE emt_messages SET message_metadata = '{"correlationId":"corr-9","tenant":"t1","streamName":"x"}'
WHERE stream_id = 'noDashStream'`)
	require.NoError(t, err)

	s, err := postgres.Open(ctx, db)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()

	rows := migrationRows(t, pool)
	require.Len(t, rows, len(postgres.Migrations()), "only our migrations ran")
	for i, m := range nodeMigrations {
		assert.Equal(t, m.hash, rows[i].Hash)
	}

	v, exists, err := s.StreamVersion(ctx, "shoppingCart-123")
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Equal(t, int64(2), v)
	read := collect(t, s.ReadStream(ctx, "shoppingCart-123"))
	require.Len(t, read, 2)
	assert.Equal(t, "NodeEvent", read[0].Type)
	assert.JSONEq(t, `{"productId":"p1","quantity":2,"big":"10"}`, string(read[0].Data))
	assert.NotZero(t, read[0].TransactionID)
	assert.NotZero(t, read[0].GlobalPosition)

	all := collect(t, s.ReadAll(ctx, eventstore.Position{}))
	require.Len(t, all, 3, "read all finds Node's events")
	assert.Equal(t, "noDashStream", all[1].StreamName)
	assert.Equal(t, emmett.Metadata{CorrelationID: "corr-9", Fields: map[string]any{"tenant": "t1"}}, all[1].Metadata)

	_, err = s.AppendToStream(ctx, "shoppingCart-123", []eventstore.EventData{{Type: "Confirmed", Data: []byte(`{}`)}}, eventstore.ExpectVersion(1))
	assert.ErrorIs(t, err, eventstore.ErrVersionConflict)
	res, err := s.AppendToStream(ctx, "shoppingCart-123", []eventstore.EventData{{Type: "Confirmed", Data: []byte(`{}`)}}, eventstore.ExpectVersion(2))
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.NextExpectedVersion)
	assert.True(t, all[2].TransactionID < res.Position.TransactionID)

	// And Node goes on from there.
	nodeAppend(t, pool, "shoppingCart-123", "shoppingCart", 3, `{}`)
	assert.Len(t, nodeReadStream(t, pool, "shoppingCart-123"), 4)
}

// TestRowsAsNodeWritesThem: the columns of a stream and its events hold what
// Node 0.42 puts there.
func TestRowsAsNodeWritesThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := openStore(t)
	pool := adminPool(t, db)
	for _, stream := range []string{"shoppingCart-123", "noDashStream", "a-b-c", "-leading"} {
		_, err := s.AppendToStream(ctx, stream, []eventstore.EventData{{Type: "E", Data: []byte(`{"n":1}`)}})
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, `SELECT stream_id, stream_type, stream_position, partition, stream_metadata::text, is_archived FROM emt_streams ORDER BY stream_id`)
	require.NoError(t, err)
	type streamRow struct {
		ID, Type  string
		Position  int64
		Partition string
		Metadata  string
		Archived  bool
	}
	streams, err := pgx.CollectRows(rows, pgx.RowToStructByPos[streamRow])
	require.NoError(t, err)
	assert.Equal(t, []streamRow{
		{"-leading", "emt:unknown", 1, "emt:default", "{}", false},
		{"a-b-c", "a", 1, "emt:default", "{}", false},
		{"noDashStream", "emt:unknown", 1, "emt:default", "{}", false},
		{"shoppingCart-123", "shoppingCart", 1, "emt:default", "{}", false},
	}, streams)

	var kind, schemaVersion, partition, metadata string
	var sameTx bool
	err = pool.QueryRow(ctx, `SELECT message_kind, message_schema_version, partition, message_metadata::text, transaction_id = (SELECT max(transaction_id) FROM emt_messages WHERE stream_id = 'shoppingCart-123')
FROM emt_messages WHERE stream_id = 'shoppingCart-123'`).Scan(&kind, &schemaVersion, &partition, &metadata, &sameTx)
	require.NoError(t, err)
	assert.Equal(t, []string{"E", "1", "emt:default", "{}"}, []string{kind, schemaVersion, partition, metadata})
}

// TestNodeSchemaDump compares pg_dump of our schema with the dump of the
// schema Node 0.42 creates, taken by the Node research: equal but for the
// objects Emmett for Go adds.
func TestNodeSchemaDump(t *testing.T) {
	t.Parallel()
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("no pg_dump")
	}
	out, err := exec.Command(pgDump, "--version").Output()
	require.NoError(t, err)
	if !strings.Contains(string(out), " 15.") {
		t.Skipf("the reference dump is of pg_dump 15, this is %s", out)
	}
	_, db := openStore(t)
	var server string
	require.NoError(t, adminPool(t, db).QueryRow(context.Background(), "SELECT current_setting('server_version_num')").Scan(&server))
	if !strings.HasPrefix(server, "15") {
		t.Skipf("the reference dump is of PostgreSQL 15, this is %s", server)
	}
	dump, err := exec.Command(pgDump, "--schema-only", "--no-owner", "--dbname", db).CombinedOutput()
	require.NoError(t, err, string(dump))
	want, err := os.ReadFile(filepath.Join("testdata", "node-0.42", "99_pg_dump_schema_only_after_0.42.0_migrate.sql"))
	require.NoError(t, err)

	ours := dumpObjects(string(dump))
	node := dumpObjects(string(want))
	require.Greater(t, len(node), 50, "the reference dump's objects")
	for name, def := range node {
		assert.Equal(t, def, ours[name], "schema object %s", name)
	}
	for name := range ours {
		if _, ok := node[name]; !ok {
			assert.Regexp(t, `transaction_global|transaction_id_global_posit|global_position_idx|emt_parked_messages|stream_message_id|stream_id_partition_is_archiv|emt_instances|name_keyset|partition_is_archived_stream_|streams_name_c|_stream_id_idx`, name, "an object only Emmett for Go adds")
		}
	}
}

var dumpHeader = regexp.MustCompile(`(?m)^-- Name: (.*)$`)

// dumpObjects splits a pg_dump into its objects, by the "-- Name:" line of
// each, without the dump's preamble and \restrict lines.
func dumpObjects(dump string) map[string]string {
	out := map[string]string{}
	locs := dumpHeader.FindAllStringSubmatchIndex(dump, -1)
	for i, loc := range locs {
		end := len(dump)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := dump[loc[1]:end]
		var kept []string
		for _, line := range strings.Split(body, "\n") {
			if line == "--" || line == "" || strings.HasPrefix(line, `\unrestrict`) || strings.HasPrefix(line, "-- PostgreSQL database dump complete") {
				continue
			}
			kept = append(kept, line)
		}
		out[dump[loc[2]:loc[3]]] = strings.Join(kept, "\n")
	}
	return out
}

// schemaOf describes the schema objects of a database, one line each.
func schemaOf(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	queries := []string{
		`SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(pg_get_expr(c.relpartbound, c.oid), '') || ' ' || coalesce(pg_get_partkeydef(c.oid), '')
		 FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace`,
		`SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
		 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`,
		`SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		 FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
		`SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		 WHERE c.relnamespace = 'public'::regnamespace`,
		`SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || pg_get_function_result(p.oid) || ' ' || md5(p.prosrc)
		 FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace`,
	}
	var out []string
	for _, q := range queries {
		rows, err := pool.Query(context.Background(), q)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out = append(out, lines...)
	}
	slices.Sort(out)
	return out
}

// nodeAppend appends one event the way Node 0.42 does: its function, in a
// transaction, with the expected position (0 for a new stream).
func nodeAppend(t testing.TB, pool *pgxpool.Pool, stream, streamType string, expected int64, data string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var ok bool
		err := tx.QueryRow(ctx, `SELECT success FROM emt_append_to_stream(
      ARRAY[gen_random_uuid()::text]::text[],
      ARRAY[$1]::jsonb[],
      ARRAY['{}']::jsonb[],
      ARRAY['1']::text[],
      ARRAY['NodeEvent']::text[],
      ARRAY['E']::text[],
      $2::text,
      $3::text,
      $4::bigint,
      'emt:default'::text
    )`, data, stream, streamType, expected).Scan(&ok)
		if err == nil && !ok {
			err = errors.New("Node's append failed")
		}
		return err
	})
	require.NoError(t, err)
}

type nodeEvent struct {
	StreamPosition, GlobalPosition int64
	Data, Metadata, Type, ID       string
}

func (e nodeEvent) withoutIDs() nodeEvent {
	e.GlobalPosition, e.ID = 0, ""
	return e
}

// nodeReadStream reads a stream with Node 0.42's readStream query.
func nodeReadStream(t testing.TB, pool *pgxpool.Pool, stream string) []nodeEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT stream_position, global_position, message_data::text, message_metadata::text, message_type, message_id
   FROM emt_messages
   WHERE stream_id = $1 AND partition = 'emt:default' AND is_archived = FALSE
   ORDER BY stream_position ASC`, stream)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[nodeEvent])
	require.NoError(t, err)
	return out
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ConcurrentOpens", func(t *testing.T) {
		db := pgtest.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				s, err := postgres.Open(ctx, db)
				if err == nil {
					_ = s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			assert.NoError(t, err)
		}
		assert.Len(t, migrationRows(t, adminPool(t, db)), len(postgres.Migrations()))
	})
	t.Run("Idempotent", func(t *testing.T) {
		s, db := openStore(t)
		before := migrationRows(t, adminPool(t, db))
		require.NoError(t, s.Migrate(ctx))
		assert.Equal(t, before, migrationRows(t, adminPool(t, db)))
	})
	t.Run("OtherNodeVersion", func(t *testing.T) {
		// A Node version whose initial migration hashes differently
		// migrated the database: it is taken as applied.
		db := pgtest.NewDatabase(t)
		pool := adminPool(t, db)
		nodeMigrate(t, pool)
		_, err := pool.Exec(ctx, "UPDATE dmb_migrations SET sql_hash = 'other' WHERE name = 'emt:postgresql:eventstore:initial'")
		require.NoError(t, err)
		s, err := postgres.Open(ctx, db)
		require.NoError(t, err)
		_ = s.Close()
	})
	t.Run("OurMigrationChanged", func(t *testing.T) {
		s, db := openStore(t)
		pool := adminPool(t, db)
		_, err := pool.Exec(ctx, "UPDATE dmb_migrations SET sql_hash = 'other' WHERE application = 'emmett-go'")
		require.NoError(t, err)
		err = s.Migrate(ctx)
		var mismatch *postgres.MigrationMismatchError
		require.ErrorAs(t, err, &mismatch)
		require.ErrorIs(t, err, postgres.ErrMigrationMismatch)
		assert.Equal(t, "other", mismatch.Recorded)
	})
	t.Run("WithoutMigration", func(t *testing.T) {
		db := pgtest.NewDatabase(t)
		s, err := postgres.Open(ctx, db, postgres.WithoutMigration())
		require.NoError(t, err)
		defer func() { _ = s.Close() }()
		_, err = s.AppendToStream(ctx, "a-1", []eventstore.EventData{{Type: "E", Data: []byte(`{}`)}})
		require.Error(t, err, "no schema")
		require.NoError(t, s.Migrate(ctx))
		_, err = s.AppendToStream(ctx, "a-1", []eventstore.EventData{{Type: "E", Data: []byte(`{}`)}})
		require.NoError(t, err)
	})
}

// collect reads a whole sequence, failing the test on an error.
func collect(t testing.TB, seq func(func(emmett.RecordedEvent, error) bool)) []emmett.RecordedEvent {
	t.Helper()
	var out []emmett.RecordedEvent
	for e, err := range seq {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}
