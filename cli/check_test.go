package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

	registryCommands(t, with)
}

// registryCommands runs read, tail and check in a tool built with the
// application's registry (UpcastingEvents), on the events checkCommand
// stored: read and tail print them upgraded to the current version of
// their type, -raw as stored, and check reads them against the registry
// without a schema file.
func registryCommands(t *testing.T, with func(args ...string) []string) {
	events := projectiontest.UpcastingEvents()
	built := func(args ...string) result {
		var out, errOut strings.Builder
		code := Main(context.Background(), with(args...), strings.NewReader(""), &out, &errOut,
			WithUpgrade(events.Upgrade), WithSchema(events.Schema()))
		return result{code, out.String(), errOut.String()}
	}
	type shown struct {
		typ, data string
		version   float64
	}
	shownOf := func(out string) []shown {
		var res []shown
		for _, e := range lines(t, out) {
			data, err := json.Marshal(e["data"])
			require.NoError(t, err)
			res = append(res, shown{e["type"].(string), string(data), e["schemaVersion"].(float64)})
		}
		return res
	}
	upgraded := []shown{
		{"Incremented", `{"by":1,"group":"legacy"}`, 3},
		{"Incremented", `{"by":4,"group":"legacy"}`, 3},
		{"Tagged", `{"tag":"x"}`, 1},
		{"Incremented", `{"by":2,"group":"legacy"}`, 3},
	}
	stored := []shown{
		{"Incremented", `{"n":1}`, 1},
		{"Bumped", `{"by":4}`, 2},
		{"Tagged", `{"tag":"x"}`, 1},
		{"Incremented", `{"by":2}`, 2},
	}
	for _, cmd := range [][]string{{"read", "counter-1"}, {"tail"}} {
		r := built(cmd...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, upgraded, shownOf(r.stdout), "%v: upgraded by the registry", cmd)
		r = built(append(cmd, "-raw")...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, stored, shownOf(r.stdout), "%v -raw: as stored", cmd)
		r = emmett(t, "", with(cmd...)...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, stored, shownOf(r.stdout), "%v without a registry: as stored", cmd)
	}
	r := built("check")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "4 of 4 events checked")

	// An event the registry cannot read fails read, naming it; -raw
	// still prints it.
	old := projectiontest.Events
	r = func() result {
		var out, errOut strings.Builder
		code := Main(context.Background(), with("read", "counter-1"), strings.NewReader(""), &out, &errOut, WithUpgrade(old.Upgrade))
		return result{code, out.String(), errOut.String()}
	}()
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `stream "counter-1", position 2): emmett: unknown event type "Bumped"`)
	assert.Contains(t, r.stderr, "-raw prints it as stored")
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
