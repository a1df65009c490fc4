package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openStore opens the store the flags name, as the tool does.
func openStore(t *testing.T, flags []string) store {
	t.Helper()
	tl := &tool{}
	if flags[0] == "-sqlite" {
		tl.sqlitePath = flags[1]
	} else {
		tl.postgresURL = flags[1]
	}
	s, err := tl.open(context.Background(), false)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// docCount counts the documents of a collection.
func docCount(t *testing.T, s store, collection string) int {
	t.Helper()
	docs := s.(interface {
		Documents() projection.DocumentStore
	}).Documents()
	n := 0
	for _, err := range docs.Find(context.Background(), collection, projection.Query{}) {
		require.NoError(t, err)
		n++
	}
	return n
}

// projectionsCommands builds two versions of the counters projection (the
// second replaces the first once caught up), then lists, activates and
// drops them with the tool, on the store the flags name.
func projectionsCommands(t *testing.T, store ...string) {
	with := func(args ...string) []string { return append(append([]string{}, store...), args...) }
	ok := okOn(t, store...)
	fails := func(args ...string) result {
		t.Helper()
		r := emmett(t, "", with(args...)...)
		require.Equal(t, 1, r.code, "%v: %s", args, r.stdout)
		assert.Empty(t, r.stdout, "%v", args)
		return r
	}
	ok("migrate")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openStore(t, store)
	procs := s.Processors()

	assert.Equal(t, "PROJECTION  VERSION  STATUS  PROCESSOR  CHECKPOINT  COLLECTIONS  UPDATED\n", ok("projections").stdout,
		"nothing recorded yet")
	var head string
	for i := range 20 {
		head = projectiontest.Append(t, s, fmt.Sprintf("counter-%d", i%5), projectiontest.Incremented{By: 1, Group: "g"}).Position.String()
	}
	v1 := projection.NewProjectionProcessor(procs, s.Source(), projectiontest.Counters("counters"))
	require.NoError(t, v1.CatchUp(ctx))
	r := ok("projections")
	assert.Regexp(t, `\ncounters\s+1\s+active\s+counters\s+`+regexp.QuoteMeta(head)+`\s+counters\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n$`, r.stdout)

	v2 := projection.NewProjectionProcessor(procs, s.Source(), projectiontest.CountersV2("counters"))
	require.NoError(t, v2.CatchUp(ctx))
	active, found, err := projection.ActiveVersion(ctx, procs, "counters")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, 2, active.Version, "version 2 replaced version 1 once caught up")
	require.Equal(t, 5, docCount(t, s, "counters"))
	require.Equal(t, 5, docCount(t, s, "counters_v2"))

	// Both versions, with their statuses and checkpoints.
	for _, args := range [][]string{{"projections"}, {"projections", "counters"}} {
		r = ok(args...)
		assert.Regexp(t, `^PROJECTION\s+VERSION\s+STATUS\s+PROCESSOR\s+CHECKPOINT\s+COLLECTIONS\s+UPDATED\n`, r.stdout)
		assert.Regexp(t, `\ncounters\s+1\s+inactive\s+counters\s+`+regexp.QuoteMeta(head)+`\s+counters\s+\d{4}-`, r.stdout)
		assert.Regexp(t, `\ncounters\s+2\s+active\s+counters_v2\s+`+regexp.QuoteMeta(head)+`\s+counters_v2\s+\d{4}-`, r.stdout)
	}
	assert.Equal(t, "PROJECTION  VERSION  STATUS  PROCESSOR  CHECKPOINT  COLLECTIONS  UPDATED\n", ok("projections", "other").stdout)
	vs := lines(t, ok("projections", "counters", "-json").stdout)
	require.Len(t, vs, 2)
	assert.Subset(t, vs[0], map[string]any{"name": "counters", "version": float64(1), "status": "inactive", "processor": "counters",
		"checkpoint": head, "kind": "document", "collections": []any{"counters"}})
	assert.Subset(t, vs[1], map[string]any{"name": "counters", "version": float64(2), "status": "active", "processor": "counters_v2",
		"checkpoint": head, "kind": "document", "collections": []any{"counters_v2"}})
	assert.Contains(t, vs[1], "updated")

	// Back to version 1, and forth to version 2.
	r = ok("projections", "counters", "-activate", "1")
	assert.Equal(t, "version 1 of projection counters is active (version 2 retired): its processor catches up from its checkpoint\n", r.stdout)
	active, _, err = projection.ActiveVersion(ctx, procs, "counters")
	require.NoError(t, err)
	assert.Equal(t, 1, active.Version)
	assert.Regexp(t, `\ncounters\s+2\s+inactive\s`, ok("projections").stdout)
	ok("projections", "-activate", "2", "counters")
	assert.Equal(t, "version 2 of projection counters is active already\n", ok("projections", "counters", "-activate", "2").stdout)

	// The active version is not dropped.
	r = fails("projections", "counters", "-drop-version", "2")
	assert.Contains(t, r.stderr, "counters version 2 serves reads: activate another version first")
	assert.Equal(t, 5, docCount(t, s, "counters_v2"))
	r = fails("projections", "counters", "-drop-version", "3")
	assert.Contains(t, r.stderr, "no such projection version: counters version 3")

	// Dropping waits for the instance that runs the version (holds its
	// lock), within -wait.
	lock, err := procs.Lock(ctx, "counters")
	require.NoError(t, err)
	r = fails("projections", "counters", "-drop-version", "1", "-wait", "300ms")
	assert.Contains(t, r.stderr, "version 1 of projection counters was not dropped within 300ms: is an instance still running it?")
	require.NoError(t, lock.Release(ctx))
	assert.Equal(t, 5, docCount(t, s, "counters"), "nothing was dropped")

	r = ok("projections", "counters", "-drop-version", "1")
	assert.Equal(t, "version 1 of projection counters dropped: processor counters, collections counters\n", r.stdout)
	assert.Zero(t, docCount(t, s, "counters"), "its collection is gone")
	assert.Equal(t, 5, docCount(t, s, "counters_v2"), "the active version's stays")
	_, found, err = procs.ReadCheckpoint(ctx, "counters")
	require.NoError(t, err)
	assert.False(t, found, "its checkpoint is gone")
	vs = lines(t, ok("projections", "-json").stdout)
	require.Len(t, vs, 1, "only version 2 remains")
	assert.Equal(t, float64(2), vs[0]["version"])
	assert.NotRegexp(t, `\ncounters\s`, ok("processors").stdout)

	r = fails("projections", "counters", "-activate", "1")
	assert.Contains(t, r.stderr, "no such projection version: counters version 1")
	r = fails("projections", "counters", "-drop-version", "1")
	assert.Contains(t, r.stderr, "no such projection version: counters version 1")
}

func TestProjectionsSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emmett.db")
	projectionsCommands(t, "-sqlite", path)

	r := emmett(t, "", "-sqlite", filepath.Join(t.TempDir(), "typo.db"), "projections")
	assert.Equal(t, 1, r.code, "a missing SQLite file is refused")
	assert.Contains(t, r.stderr, "no SQLite database at")
}

func TestProjectionsPostgres(t *testing.T) {
	projectionsCommands(t, "-postgres", pgtest.NewDatabase(t))
}

func TestProjectionsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-sqlite", "x.db", "projections", "a", "b"},
		{"-sqlite", "x.db", "projections", "-drop-version", "1"},
		{"-sqlite", "x.db", "projections", "-activate", "1"},
		{"-sqlite", "x.db", "projections", "counters", "-drop-version", "two"},
		{"-sqlite", "x.db", "projections", "counters", "-drop-version", "0"},
		{"-sqlite", "x.db", "projections", "counters", "-activate", "-1"},
		{"-sqlite", "x.db", "projections", "counters", "-drop-version", "1", "-activate", "2"},
		{"-sqlite", "x.db", "projections", "counters", "-drop-version", "1", "-wait", "soon"},
		{"-sqlite", "x.db", "projections", "counters", "-drop-version", "1", "-wait", "0s"},
		{"-sqlite", "x.db", "projections", "-jsn"},
	} {
		r := emmett(t, "", args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.NotEmpty(t, r.stderr)
	}
	r := emmett(t, "", "-h")
	assert.Contains(t, r.stderr, "projections NAME -drop-version N [-wait D]")
}
