package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// EnvBouncer names the pgbouncer program to run, before PATH, /usr/sbin
// and /usr/bin are searched.
const EnvBouncer = "EMMETT_PGBOUNCER"

// ErrBouncerNotFound is matched by the error of StartBouncer when there is
// no pgbouncer program (Debian's package pgbouncer installs one).
var ErrBouncerNotFound = errors.New("pgtest: no pgbouncer found")

// BouncerOptions configure a PgBouncer started by StartBouncer.
type BouncerOptions struct {
	// PoolSize is the most server connections per database
	// (default_pool_size); 20 when 0.
	PoolSize int
	// Settings are more settings of pgbouncer.ini's [pgbouncer] section
	// (name to value); they override pgtest's own.
	Settings map[string]string
}

// Bouncer is a PgBouncer in transaction pooling mode (pool_mode =
// transaction) in front of a Server that pgtest started, for tests of
// code that must work through a transaction-mode pooler: a client's
// consecutive transactions may run on different server sessions, so
// nothing that lives in a session (session-level advisory locks, LISTEN,
// SET, named prepared statements: PgBouncer 1.18 passes none of them
// through) outlasts a transaction. Every database of the server is
// reachable through it, as the user postgres without a password. Its
// methods are safe for concurrent use.
type Bouncer struct {
	server  *Server
	dir     string
	logPath string
	port    int

	mu     sync.Mutex
	proc   *exec.Cmd
	exited chan struct{}
	closed bool
}

// Port is the TCP port the bouncer listens on (on 127.0.0.1).
func (b *Bouncer) Port() int { return b.port }

// LogPath is the bouncer's log file.
func (b *Bouncer) LogPath() string { return b.logPath }

// Server is the server the bouncer pools connections to.
func (b *Bouncer) Server() *Server { return b.server }

// URL returns a connection string for the given database (the server's
// default database when empty) through the bouncer, as the user postgres.
func (b *Bouncer) URL(database string) string {
	if database == "" {
		database = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, url.PathEscape(database))
}

// Through returns the connection string of the database that connString
// (one of the server's, as NewDatabase returns it) names, through the
// bouncer.
func (b *Bouncer) Through(connString string) string {
	u, err := url.Parse(connString)
	if err != nil {
		return b.URL("")
	}
	return b.URL(strings.TrimPrefix(u.Path, "/"))
}

// LogTail returns the last n lines of the bouncer's log.
func (b *Bouncer) LogTail(n int) string { return logTail(b.logPath, n) }

// StartBouncer starts a PgBouncer in transaction pooling mode in front of
// s, in a temporary directory of its own, listening on a free port of
// 127.0.0.1; when the tests run as root, it runs as the OS user the server
// runs as (pgbouncer refuses to run as root). It reaches the server over
// its unix socket as the user postgres, whom the server trusts. The caller
// must Close it. s must be a server pgtest started (the error matches
// ErrNotManaged otherwise); the error matches ErrBouncerNotFound when
// there is no pgbouncer program.
func (s *Server) StartBouncer(opts BouncerOptions) (*Bouncer, error) {
	if s.external {
		return nil, ErrNotManaged
	}
	bin, err := findBouncer()
	if err != nil {
		return nil, err
	}
	removeStaleDirs()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	b := &Bouncer{server: s, dir: dir, logPath: filepath.Join(dir, "pgbouncer.log")}
	fail := func(err error) (*Bouncer, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if b.port, err = freePort(); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(`"postgres" ""`+"\n"), 0o644); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	ini := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(ini, []byte(b.config(opts)), 0o644); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fail(fmt.Errorf("pgtest: %w", err))
		}
	}
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	defer logFile.Close()
	cmd := exec.Command(bin, ini)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := startLocked(cmd); err != nil {
		return fail(fmt.Errorf("pgtest: starting pgbouncer: %w", err))
	}
	exited := make(chan struct{})
	b.proc, b.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := b.waitReady(30 * time.Second); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// config is the bouncer's pgbouncer.ini.
func (b *Bouncer) config(opts BouncerOptions) string {
	poolSize := opts.PoolSize
	if poolSize <= 0 {
		poolSize = 20
	}
	set := map[string]string{
		"listen_addr":       "127.0.0.1",
		"listen_port":       strconv.Itoa(b.port),
		"unix_socket_dir":   "",
		"auth_type":         "trust",
		"auth_file":         filepath.Join(b.dir, "userlist.txt"),
		"admin_users":       "postgres",
		"pool_mode":         "transaction",
		"default_pool_size": strconv.Itoa(poolSize),
		"max_client_conn":   "1000",
		// Tests create many databases, one pool each: server
		// connections idle for a few seconds are closed, so that the
		// server's max_connections is not spent on finished tests.
		"server_idle_timeout": "5",
		"server_lifetime":     "3600",
		"pidfile":             filepath.Join(b.dir, "pgbouncer.pid"),
		"log_connections":     "0",
		"log_disconnections":  "0",
		"log_pooler_errors":   "1",
	}
	for k, v := range opts.Settings {
		set[k] = v
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	// Every database, on the server, as the client's user, over the
	// server's unix socket (the bouncer runs as the server's OS user).
	fmt.Fprintf(&sb, "[databases]\n* = host=%s port=%d\n\n[pgbouncer]\n", b.server.sockDir, b.server.port)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s = %s\n", k, set[k])
	}
	return sb.String()
}

func (b *Bouncer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			return fmt.Errorf("pgtest: pgbouncer exited while starting\n%s", b.LogTail(30))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgconn.Connect(ctx, b.URL(""))
		if err == nil {
			err = conn.Exec(ctx, "SELECT 1").Close()
			_ = conn.Close(context.Background())
		}
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: pgbouncer did not accept connections within %s: %v\n%s", timeout, lastErr, b.LogTail(30))
}

// Close stops the bouncer at once (its clients' connections are closed)
// and removes its directory. Closing twice is not an error.
func (b *Bouncer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.proc != nil {
		// SIGTERM is pgbouncer's immediate shutdown (SIGINT waits for
		// its clients).
		_ = b.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			_ = b.proc.Process.Kill()
			<-b.exited
		}
	}
	return os.RemoveAll(b.dir)
}

// findBouncer returns the path of the pgbouncer program.
func findBouncer() (string, error) {
	if p := os.Getenv(EnvBouncer); p != "" {
		if fileExists(p) {
			return p, nil
		}
		return "", fmt.Errorf("%w: %s=%s does not exist", ErrBouncerNotFound, EnvBouncer, p)
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		if p := filepath.Join(dir, "pgbouncer"); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked in $%s, PATH, /usr/sbin and /usr/bin; install Debian's package pgbouncer, as .ci/run does)", ErrBouncerNotFound, EnvBouncer)
}

// NewBouncer starts a PgBouncer in transaction pooling mode in front of srv
// (see Server.StartBouncer) for the test, and closes it when the test
// ends. It skips the test when srv is an external server
// (EMMETT_POSTGRES_URL), or when there is no pgbouncer program; under
// EMMETT_REQUIRE_POSTGRES=1 a missing pgbouncer fails the test instead. A
// bouncer starts in a few milliseconds.
func NewBouncer(t testing.TB, srv *Server, opts BouncerOptions) *Bouncer {
	t.Helper()
	if srv.external {
		t.Skipf("pgtest: skipping, the test needs a PgBouncer in front of a server pgtest starts, and %s names an external one", EnvURL)
	}
	b, err := srv.StartBouncer(opts)
	if err != nil {
		if errors.Is(err, ErrBouncerNotFound) && !Required() {
			t.Skipf("pgtest: skipping, no PgBouncer to test through: %v (set %s=1 to make this a failure)", err, EnvRequire)
		}
		t.Fatalf("pgtest: starting pgbouncer: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
