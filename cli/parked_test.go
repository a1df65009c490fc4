package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tallyModule builds the Wasm test module tally (it counts each stream's
// events in a document of its own, and fails on "Reject" events) into a
// file, and has catch-up load it with the test process's compiled code.
func tallyModule(t *testing.T) string {
	t.Helper()
	const pkg = "../projection/wasm/testdata/tally"
	wasmtest.Load(t, pkg) // compiles it into wasmtest.Cache(), outside the race detector
	path := filepath.Join(t.TempDir(), "tally.wasm")
	require.NoError(t, os.WriteFile(path, wasmtest.Build(t, pkg), 0o600))
	wasmOptions = []wasm.Option{wasm.WithCompilationCache(wasmtest.Cache())}
	t.Cleanup(func() { wasmOptions = nil })
	return path
}

// parkedCommands runs catch-up and parked on the store the flags name: a
// Wasm projection parks the event it fails on, and the parked event is
// listed, retried (by the next run) and discarded.
func parkedCommands(t *testing.T, module string, store ...string) {
	with := func(args ...string) []string { return append(append([]string{}, store...), args...) }
	ok := okOn(t, store...)
	ok("migrate")
	ok("append", "cart-1", "-type", "Opened", "-data", `{}`)
	ok("append", "cart-1", "-type", "Added", "-data", `{}`)
	ok("append", "cart-2", "-type", "Reject", "-data", `{}`)
	head := lines(t, ok("append", "cart-3", "-type", "Opened", "-data", `{}`).stdout)[0]["position"]

	r := ok("catch-up", "tally", "-wasm", module, "-on-failure", "park")
	assert.Equal(t, map[string]any{"processor": "tally", "checkpoint": head}, lines(t, r.stdout)[0], "it ran up to the end of the log")
	assert.Contains(t, r.stderr, "processor parked an event", "the park is logged")

	r = ok("parked")
	assert.Regexp(t, `ID\s+PROCESSOR\s+POSITION\s+STREAM\s+TYPE\s+ATTEMPTS`, r.stdout)
	assert.Regexp(t, `\n1\s+tally\s+\S+\s+cart-2@1\s+Reject\s+3\s+.*\s-\s+.*rejected by the tally module`, r.stdout)
	parked := lines(t, ok("parked", "tally", "-json").stdout)
	require.Len(t, parked, 1)
	assert.Equal(t, "Reject", parked[0]["event"].(map[string]any)["type"])
	assert.Equal(t, float64(3), parked[0]["attempts"])
	assert.Empty(t, lines(t, ok("parked", "another", "-json").stdout), "another processor parked nothing")

	r = ok("parked", "tally", "-retry", "all")
	assert.Contains(t, r.stdout, "retry asked for 1 parked event(s) of processor tally")
	assert.Regexp(t, `Reject\s+3\s+.*\sasked\s`, ok("parked").stdout)
	r = emmett(t, "", with("parked", "-retry", "all", "-wait", "200ms")...)
	assert.Equal(t, 1, r.code, "nothing runs the processor")
	assert.Contains(t, r.stderr, "is the processor running?")

	// The next run carries the retry out before anything else: the module
	// rejects the event again.
	ok("catch-up", "tally", "-wasm", module, "-on-failure", "park")
	parked = lines(t, ok("parked", "-json").stdout)
	require.Len(t, parked, 1)
	assert.Equal(t, float64(4), parked[0]["attempts"], "the retry failed")
	assert.Equal(t, false, parked[0]["retryRequested"])

	r = emmett(t, "", with("parked", "-retry", "99")...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no parked event 99")
	r = emmett(t, "", with("parked", "other", "-discard", "1")...)
	assert.Equal(t, 1, r.code, "not the processor's")
	r = ok("parked", "-discard", "1")
	assert.Equal(t, "parked event 1 discarded\n", r.stdout)
	assert.Empty(t, lines(t, ok("parked", "-json").stdout))

	// Without -wasm, catch-up waits for the processor: caught up already.
	r = ok("catch-up", "tally", "-timeout", "10s")
	assert.Equal(t, map[string]any{"processor": "tally", "checkpoint": head}, lines(t, r.stdout)[0])
	ok("append", "cart-3", "-type", "Added", "-data", `{}`)
	r = emmett(t, "", with("catch-up", "tally", "-timeout", "300ms")...)
	assert.Equal(t, 1, r.code, "nobody runs it")
	assert.Contains(t, r.stderr, "did not catch up in time")
	r = ok("catch-up", "tally", "-wasm", module, "-until", head.(string))
	assert.Equal(t, "tally", lines(t, r.stdout)[0]["processor"])
	r = ok("catch-up", "early", "-wasm", module, "-until", "1", "-batch", "1")
	assert.NotEqual(t, "0", lines(t, r.stdout)[0]["checkpoint"], "a bare global position means its event, on every store")
	r = emmett(t, "", with("catch-up", "tally", "-until", "99")...)
	assert.Equal(t, 1, r.code, "no event at 99")
	assert.Contains(t, r.stderr, "-until")

	// A processor that starts from a time: only what was stored since.
	time.Sleep(20 * time.Millisecond)
	since := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	ok("append", "cart-4", "-type", "Opened", "-data", `{}`)
	ok("catch-up", "recent", "-wasm", module, "-start-time", since)
	r = ok("catch-up", "recent")
	assert.Equal(t, "recent", lines(t, r.stdout)[0]["processor"])

	s := openStore(t, store)
	docs := s.(interface {
		Documents() projection.DocumentStore
	}).Documents()
	assert.Equal(t, map[string]int{"cart-1": 2, "cart-3": 1}, counts(t, docs, "tally"),
		"the parked event was never applied; the -until run stopped at its position")
	assert.Equal(t, map[string]int{"cart-4": 1}, counts(t, docs, "recent"), "only the events stored from -start-time")
}

// counts reads the tally module's documents: each stream's event count.
func counts(t *testing.T, docs projection.DocumentStore, collection string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for d, err := range docs.Find(context.Background(), collection, projection.Query{}) {
		require.NoError(t, err)
		var tally struct{ Count int }
		require.NoError(t, json.Unmarshal(d.Data, &tally))
		out[d.ID] = tally.Count
	}
	return out
}

func TestParkedAndCatchUpSQLite(t *testing.T) {
	module := tallyModule(t)
	path := filepath.Join(t.TempDir(), "emmett.db")
	parkedCommands(t, module, "-sqlite", path)
}

func TestParkedAndCatchUpPostgres(t *testing.T) {
	module := tallyModule(t)
	url := pgtest.NewDatabase(t)
	parkedCommands(t, module, "-postgres", url)

	// The replication feed: a slot of the processor's own, created on its
	// first run.
	r := emmett(t, "", "-postgres", url, "catch-up", "tally_wal", "-wasm", module, "-replication", "-on-failure", "skip", "-timeout", "60s")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "tally_wal", lines(t, r.stdout)[0]["processor"])
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()
	src, err := replication.NewSource(s, "tally_wal")
	require.NoError(t, err)
	require.NoError(t, src.DropSlot(ctx))
}

func TestParkedAndCatchUpUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-sqlite", "x.db", "parked", "a", "b"},
		{"-sqlite", "x.db", "parked", "-retry", "soon"},
		{"-sqlite", "x.db", "parked", "-retry", "1", "-discard", "1"},
		{"-sqlite", "x.db", "catch-up"},
		{"-sqlite", "x.db", "catch-up", "p", "-start-end"},
		{"-sqlite", "x.db", "catch-up", "p", "-on-failure", "park"},
		{"-sqlite", "x.db", "catch-up", "p", "-wasm", "m.wasm", "-on-failure", "never"},
		{"-sqlite", "x.db", "catch-up", "p", "-wasm", "m.wasm", "-start-end", "-start-after", "3"},
		{"-sqlite", "x.db", "catch-up", "p", "-wasm", "m.wasm", "-start-time", "yesterday"},
		{"-sqlite", "x.db", "catch-up", "p", "-until", "nope"},
	} {
		r := emmett(t, "", args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.NotEmpty(t, r.stderr)
	}
}
