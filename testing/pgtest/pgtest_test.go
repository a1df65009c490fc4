package pgtest_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	require.NotEqual(t, a, b, "each call gives a database of its own")

	connA := connect(t, a)
	_, err := connA.Exec(ctx, "CREATE TABLE only_in_a (id int)")
	require.NoError(t, err)

	connB := connect(t, b)
	var exists bool
	require.NoError(t, connB.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists))
	assert.False(t, exists, "databases are separate")

	var wal, encoding string
	require.NoError(t, connA.QueryRow(ctx, "SHOW wal_level").Scan(&wal))
	require.NoError(t, connA.QueryRow(ctx, "SHOW server_encoding").Scan(&encoding))
	assert.Equal(t, "UTF8", encoding)
	if !pgtest.Default(t).External() {
		assert.Equal(t, "logical", wal)
	}
}

func TestReplicationConnection(t *testing.T) {
	srv := pgtest.Default(t)
	srv.RequireManaged(t)
	ctx := context.Background()
	db := srv.NewDatabase(t)
	conn := connect(t, db)
	var slots int
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('max_replication_slots')::int").Scan(&slots))
	assert.GreaterOrEqual(t, slots, 10)

	cfg, err := pgx.ParseConfig(srv.ReplicationURL(dbName(t, db)))
	require.NoError(t, err)
	assert.Equal(t, "database", cfg.RuntimeParams["replication"])
	// A logical slot can be created: wal_level and the role allow it.
	_, err = conn.Exec(ctx, "SELECT pg_create_logical_replication_slot('pgtest_slot', 'pgoutput')")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SELECT pg_drop_replication_slot('pgtest_slot')")
	require.NoError(t, err)
}

func TestRestart(t *testing.T) {
	srv := pgtest.Default(t)
	srv.RequireManaged(t)
	ctx := context.Background()
	db := srv.NewDatabase(t)
	conn := connect(t, db)
	_, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')")
	require.NoError(t, err)

	require.NoError(t, srv.Stop())
	_, err = conn.Exec(ctx, "SELECT 1")
	require.Error(t, err, "the server is down")
	_, err = pgx.Connect(ctx, db)
	require.Error(t, err, "nothing listens while stopped")

	require.NoError(t, srv.Start())
	conn2 := connect(t, db)
	var v string
	require.NoError(t, conn2.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	assert.Equal(t, "before restart", v, "data survives a restart, on the same port")

	require.NoError(t, srv.Restart())
	conn3 := connect(t, db)
	require.NoError(t, conn3.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
}

func TestStartServerDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second server")
	}
	pgtest.Default(t).RequireManaged(t) // skips with an external URL, fails without PostgreSQL when required
	srv, err := pgtest.StartServer(pgtest.Options{Durable: true, Settings: map[string]string{"application_name": "pgtest_durable"}})
	require.NoError(t, err)
	dir := srv.SocketDir()
	defer func() {
		require.NoError(t, srv.Close())
		_, err := os.Stat(dir)
		assert.True(t, os.IsNotExist(err), "Close removes the directory")
	}()
	conn := connect(t, srv.URL(""))
	var fsync, app string
	require.NoError(t, conn.QueryRow(context.Background(), "SHOW fsync").Scan(&fsync))
	require.NoError(t, conn.QueryRow(context.Background(), "SHOW application_name").Scan(&app))
	assert.Equal(t, "on", fsync)
	assert.NotEmpty(t, srv.LogPath())

	// The unix socket is there too.
	sockConn := connect(t, "host="+dir+" port="+strconv.Itoa(srv.Port())+" user=postgres dbname=postgres")
	require.NoError(t, sockConn.Ping(context.Background()))
}

func dbName(t *testing.T, connString string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	require.NoError(t, err)
	return cfg.Database
}

// The helper tests run only inside a child test binary that the tests below
// start, to see pgtest from the outside: skipping, failing, dying.
const helperEnv = "PGTEST_HELPER"

func TestHelperNeedsDatabase(t *testing.T) {
	if os.Getenv(helperEnv) != "needs-database" {
		t.Skip("helper")
	}
	db := pgtest.NewDatabase(t)
	fmt.Printf("DB=%s\n", dbName(t, db))
	connect(t, db)
}

func TestHelperDies(t *testing.T) {
	if os.Getenv(helperEnv) != "dies" {
		t.Skip("helper")
	}
	srv := pgtest.Default(t)
	fmt.Printf("DIR=%s PORT=%d\n", filepath.Dir(srv.SocketDir()), srv.Port())
	time.Sleep(time.Minute) // killed before this ends
}

func runHelper(t *testing.T, name string, env ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestHelper", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + name}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSkipsWithoutPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	env := []string{pgtest.EnvURL + "=", pgtest.EnvBinDir + "=" + t.TempDir()}
	out, err := runHelper(t, "needs-database", append(env, pgtest.EnvRequire+"=")...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "--- SKIP: TestHelperNeedsDatabase")
	assert.Contains(t, out, "no PostgreSQL to test against")

	out, err = runHelper(t, "needs-database", append(env, pgtest.EnvRequire+"=1")...)
	require.Error(t, err, out)
	assert.Contains(t, out, "--- FAIL: TestHelperNeedsDatabase")
	assert.Contains(t, out, "no PostgreSQL installation found")
}

func TestServerDiesWithTestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	pgtest.Default(t).RequireManaged(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestHelperDies$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=dies", pgtest.EnvURL+"=")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var dir string
	var port int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "DIR=%s PORT=%d", &dir, &port); err == nil {
			break
		}
	}
	require.NotZero(t, port, "the helper reported its server")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	// The kernel stops the server with the test binary.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the server stops when its test binary dies")
	// The killed binary left its directory behind (unless another test
	// binary starting a server removed it already).
	// The next server started removes the directory left behind.
	require.Eventually(t, func() bool {
		srv, err := pgtest.StartServer(pgtest.Options{})
		require.NoError(t, err)
		require.NoError(t, srv.Close())
		_, err = os.Stat(dir)
		return os.IsNotExist(err)
	}, 30*time.Second, 500*time.Millisecond)
}

func TestExternalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	srv := pgtest.Default(t)
	out, err := runHelper(t, "needs-database", pgtest.EnvURL+"="+srv.URL(""), pgtest.EnvRequire+"=1")
	require.NoError(t, err, out)
	i := strings.Index(out, "DB=")
	require.GreaterOrEqual(t, i, 0, out)
	name := strings.Fields(out[i+3:])[0]
	var exists bool
	conn := connect(t, srv.URL(""))
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	assert.False(t, exists, "a database on an external server is dropped when its test ends")
}

// NewServer gives a test a server of its own, with its settings, and
// removes it when the test ends.
func TestNewServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second server")
	}
	pgtest.Default(t).RequireManaged(t)
	var dir string
	t.Run("Own", func(t *testing.T) {
		srv := pgtest.NewServer(t, pgtest.Options{Settings: map[string]string{"application_name": "pgtest_own"}})
		dir = srv.SocketDir()
		var app string
		require.NoError(t, connect(t, srv.URL("")).QueryRow(context.Background(), "SHOW application_name").Scan(&app))
		assert.Equal(t, "pgtest_own", app, "its settings")
		assert.NotEqual(t, pgtest.Default(t).Port(), srv.Port(), "not the package's server")
	})
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "removed when the test ends")
}
