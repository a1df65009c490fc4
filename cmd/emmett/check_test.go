package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkCommand runs emmett check on a store holding events under a type
// name the registry of projectiontest.Events no longer has ("Bumped") and
// at a version of Incremented newer than it reads: it fails, naming them, and passes with the
// schema of a registry that reads them (UpcastingEvents: Incremented at
// version 3, Bumped renamed).
func checkCommand(t *testing.T, s eventstore.Store, store ...string) {
	with := func(args ...string) []string { return append(append([]string{}, store...), args...) }
	_, err := s.AppendToStream(context.Background(), "counter-1", []eventstore.EventData{
		{Type: "Incremented", Data: []byte(`{"n":1}`), SchemaVersion: 1},
		{Type: "Bumped", Data: []byte(`{"by":4}`), SchemaVersion: 2},
		{Type: "Tagged", Data: []byte(`{"tag":"x"}`)},
		{Type: "Incremented", Data: []byte(`{"by":2}`), SchemaVersion: 2},
	})
	require.NoError(t, err)
	dir := t.TempDir()
	schemaFile := func(name string, schema any) string {
		data, err := json.Marshal(schema)
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, data, 0o644))
		return path
	}
	old := schemaFile("old.json", projectiontest.Events.Schema())
	r := emmett(t, "", with("check", "-schema", old)...)
	assert.Equal(t, 1, r.code, "events the registry cannot read: %s", r.stdout)
	assert.Contains(t, r.stderr, "Bumped version 2: 1 event(s)")
	assert.Contains(t, r.stderr, "Incremented version 2")

	fixed := schemaFile("fixed.json", projectiontest.UpcastingEvents().Schema())
	r = emmett(t, "", with("check", "-schema", fixed)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "4 of 4 events checked: every one is of a type and version the registry reads\n", r.stdout)
	r = emmett(t, "", with("check", "-schema", fixed, "-every", "2")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "2 of 4 events checked")

	for _, args := range [][]string{{"check"}, {"check", "-schema", fixed, "-every", "0"}} {
		r = emmett(t, "", with(args...)...)
		assert.Equal(t, 2, r.code, "%v: a usage error", args)
	}
	r = emmett(t, "", with("check", "-schema", filepath.Join(dir, "missing.json"))...)
	assert.Equal(t, 1, r.code)
}

func TestCheckSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "check.db")
	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer s.Close()
	checkCommand(t, s, "-sqlite", path)
}

func TestCheckPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(context.Background(), url)
	require.NoError(t, err)
	defer s.Close()
	checkCommand(t, s, "-postgres", url)
}
