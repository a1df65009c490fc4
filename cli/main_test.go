package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/sqlproc"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type result struct {
	code           int
	stdout, stderr string
}

// run is Main with no option: the tool as cmd/emmett builds it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Main(ctx, args, stdin, stdout, stderr)
}

func emmett(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// okOn returns a runner of the tool on the store the flags name that
// requires each command to succeed.
func okOn(t *testing.T, store ...string) func(args ...string) result {
	return func(args ...string) result {
		t.Helper()
		r := emmett(t, "", append(append([]string{}, store...), args...)...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		return r
	}
}

func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		res = append(res, m)
	}
	return res
}

// storeCommands runs the commands every backend has, with store the flags
// naming it.
func storeCommands(t *testing.T, store ...string) {
	with := func(args ...string) []string { return append(append([]string{}, store...), args...) }

	r := emmett(t, "", with("migrate")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "schema up to date\n", r.stdout)

	r = emmett(t, "", with("append", "cart-1", "-type", "Opened", "-data", `{"by":"ann"}`, "-expect", "no_stream")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, float64(1), lines(t, r.stdout)[0]["nextExpectedVersion"])

	r = emmett(t, `{"sku":"shoes"}`+"\n", with("append", "cart-1", "-type", "ItemAdded", "-expect", "1")...)
	require.Equal(t, 0, r.code, "data from stdin: %s", r.stderr)

	r = emmett(t, "", with("append", "cart-1", "-type", "ItemAdded", "-data", `{}`, "-expect", "1")...)
	assert.Equal(t, 1, r.code, "a stale expected version fails")
	assert.Contains(t, r.stderr, "version conflict")

	r = emmett(t, "", with("append", "cart-1", "-type", "Bad", "-data", `{"a":`)...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not valid JSON")

	r = emmett(t, "", with("version", "cart-1")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "2\n", r.stdout)

	r = emmett(t, "", with("read", "cart-1")...)
	require.Equal(t, 0, r.code, r.stderr)
	evs := lines(t, r.stdout)
	require.Len(t, evs, 2)
	assert.Equal(t, "Opened", evs[0]["type"])
	assert.Equal(t, map[string]any{"sku": "shoes"}, evs[1]["data"])

	r = emmett(t, "", with("read", "cart-1", "-from", "2")...)
	require.Len(t, lines(t, r.stdout), 1)

	emmett(t, "", with("append", "cart-2", "-type", "Opened", "-data", `{}`)...)
	r = emmett(t, "", with("tail")...)
	require.Equal(t, 0, r.code, r.stderr)
	all := lines(t, r.stdout)
	require.Len(t, all, 3)
	assert.Equal(t, "cart-2", all[2]["streamName"])

	r = emmett(t, "", with("tail", "-after", all[0]["position"].(string), "-limit", "1")...)
	require.Equal(t, 0, r.code, r.stderr)
	rest := lines(t, r.stdout)
	require.Len(t, rest, 1)
	assert.Equal(t, all[1]["position"], rest[0]["position"])
	bare := strconv.FormatFloat(all[0]["globalPosition"].(float64), 'f', -1, 64)
	r = emmett(t, "", with("tail", "-after", bare, "-limit", "1")...)
	require.Equal(t, 0, r.code, r.stderr)
	rest = lines(t, r.stdout)
	require.Len(t, rest, 1)
	assert.Equal(t, all[1]["position"], rest[0]["position"], "after the bare global position %s, as after its event", bare)
	r = emmett(t, "", with("tail", "-after", "999999999")...)
	assert.Equal(t, 1, r.code, "no event there: not the beginning")
	assert.Contains(t, r.stderr, "no event at position 999999999")
	assert.Empty(t, r.stdout)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	code := run(ctx, with("tail", "-follow", "-limit", "3"), strings.NewReader(""), &out, os.Stderr)
	assert.Equal(t, 0, code)
	assert.Len(t, lines(t, out.String()), 3, "-follow with -limit stops after as many events")
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emmett.db")
	storeCommands(t, "-sqlite", path)

	s, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	require.NoError(t, s.Processors().Commit(context.Background(), "cart_details", eventstore.Position{}, eventstore.Position{GlobalPosition: 3}, nil))
	require.NoError(t, s.Close())
	r := emmett(t, "", "-sqlite", path, "processors")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "PROCESSOR")
	assert.Regexp(t, `cart_details\s+emt:default\s+\S+\s+3\s`, r.stdout, "the checkpoint as tail prints the position, not zero-padded")
	assert.NotContains(t, r.stdout, "0000000000000000003")

	r = emmett(t, "", "-sqlite", path, "slot", "x")
	assert.Equal(t, 2, r.code, "slots are PostgreSQL's")
	r = emmett(t, "", "-sqlite", path, "publication", "-drop")
	assert.Equal(t, 2, r.code, "publications are PostgreSQL's")
}

func TestPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	storeCommands(t, "-postgres", url)

	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()
	src, err := replication.NewSource(s, "summary")
	require.NoError(t, err)
	_, err = src.Head(ctx) // creates the slot
	require.NoError(t, err)

	r := emmett(t, "", "-postgres", url, "slot", "summary")
	require.Equal(t, 0, r.code, r.stderr)
	st := lines(t, r.stdout)[0]
	assert.Equal(t, src.Slot(), st["slot"])
	assert.Equal(t, "reserved", st["walStatus"])

	r = emmett(t, "", "-postgres", url, "publication")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, map[string]any{"publication": replication.DefaultPublication, "exists": true, "pgoutputSlots": []any{src.Slot()}},
		lines(t, r.stdout)[0])
	r = emmett(t, "", "-postgres", url, "publication", "-drop")
	assert.Equal(t, 1, r.code, "the publication is not dropped while a slot remains")
	assert.Contains(t, r.stderr, "publication in use")
	assert.Contains(t, r.stderr, src.Slot())

	r = emmett(t, "", "-postgres", url, "slot", "summary", "-drop")
	require.Equal(t, 0, r.code, r.stderr)
	r = emmett(t, "", "-postgres", url, "slot", "summary")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no replication slot")

	r = emmett(t, "", "-postgres", url, "publication", "-drop")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "publication "+replication.DefaultPublication+" dropped\n", r.stdout)
	r = emmett(t, "", "-postgres", url, "publication", "-name", replication.DefaultPublication)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, map[string]any{"publication": replication.DefaultPublication, "exists": false, "pgoutputSlots": []any{}},
		lines(t, r.stdout)[0])

	r = emmett(t, "", "-postgres", url, "processors")
	require.Equal(t, 0, r.code, r.stderr)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-sqlite", "x.db", "frobnicate"},
		{"-sqlite", "x.db", "read"},
		{"-sqlite", "x.db", "append", "s-1"},
		{"-sqlite", "x.db", "append", "s-1", "-type", "T", "-expect", "soon"},
		{"-sqlite", "x.db", "tail", "-after", "nope"},
		{"read", "s-1"},
		{"-sqlite", "a.db", "-postgres", "postgres://x", "read", "s-1"},
	} {
		r := emmett(t, "", args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.NotEmpty(t, r.stderr)
	}
	r := emmett(t, "", "-h")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stderr, "usage: emmett")
}

func TestReadCommandsRefuseAMissingSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	for _, path := range []string{typo, "file:" + typo + "?mode=rwc", "file://" + typo} {
		for _, args := range [][]string{
			{"read", "cart-1"},
			{"version", "cart-1"},
			{"tail"},
			{"tail", "-follow"},
			{"processors"},
		} {
			// A deadline, for tail -follow would otherwise follow the new file.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var out, errOut bytes.Buffer
			code := run(ctx, append([]string{"-sqlite", path}, args...), strings.NewReader(""), &out, &errOut)
			cancel()
			assert.Equal(t, 1, code, "%s %v", path, args)
			assert.Empty(t, out.String())
			assert.Contains(t, errOut.String(), "no SQLite database at "+path, "%v", args)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "%s %v creates nothing", path, args)
		}
	}

	r := emmett(t, "", "-sqlite", typo, "migrate")
	require.Equal(t, 0, r.code, "migrate creates the database: %s", r.stderr)
	assert.FileExists(t, typo)
	r = emmett(t, "", "-sqlite", typo, "tail")
	assert.Equal(t, 0, r.code, r.stderr)
	r = emmett(t, "", "-sqlite", "file:"+typo+"?mode=ro", "version", "cart-1")
	assert.Equal(t, 0, r.code, "a URI naming an existing file: %s", r.stderr)
	assert.Equal(t, "0\n", r.stdout)
}

func TestSQLiteFile(t *testing.T) {
	for path, want := range map[string]string{
		"data/app.db":                      "data/app.db",
		"data/app.db?_pragma=foo":          "data/app.db",
		"file:data/app.db":                 "data/app.db",
		"file:data/my%20app.db?mode=ro#x":  "data/my app.db",
		"file:///var/data/app.db?mode=rw":  "/var/data/app.db",
		"file://localhost/var/data/app.db": "/var/data/app.db",
	} {
		got, ok := sqliteFile(path)
		assert.True(t, ok, path)
		assert.Equal(t, want, got, path)
	}
	for _, path := range []string{"", ":memory:", "file::memory:", "file:x.db?mode=memory&cache=shared", "file:/x.db?vfs=memdb"} {
		_, ok := sqliteFile(path)
		assert.False(t, ok, "%q is in memory", path)
	}
}

func TestCheckpointIsPrintedAsAPosition(t *testing.T) {
	for _, p := range []eventstore.Position{
		{GlobalPosition: 4},
		{TransactionID: 1907, GlobalPosition: 42},
		{LSN: 0x16B3748, TransactionID: 1907, GlobalPosition: 42},
	} {
		assert.Equal(t, p.String(), checkpoint(sqlproc.CheckpointText(p)), "stored as %s", sqlproc.CheckpointText(p))
		assert.Equal(t, p.String(), checkpoint(p.String()))
	}
	assert.Equal(t, "4", checkpoint("0000000000000000004"))
	assert.Equal(t, "-", checkpoint(""), "no checkpoint yet")
	assert.Equal(t, "garbled", checkpoint("garbled"))
}
