package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables pgtest reads.
const (
	// EnvURL names a server to use instead of starting one.
	EnvURL = "EMMETT_POSTGRES_URL"
	// EnvRequire, set to 1, makes a missing server fail the tests that
	// need one instead of skipping them.
	EnvRequire = "EMMETT_REQUIRE_POSTGRES"
	// EnvBinDir names the directory holding initdb and postgres, before
	// PATH and /usr/lib/postgresql/*/bin are searched.
	EnvBinDir = "EMMETT_POSTGRES_BIN"
)

// ErrNotFound is matched by the error of StartServer when no PostgreSQL
// installation is found.
var ErrNotFound = errors.New("pgtest: no PostgreSQL installation found")

// ErrNotManaged is returned by Stop, Start and Restart of a server that
// pgtest did not start (one given by EMMETT_POSTGRES_URL).
var ErrNotManaged = errors.New("pgtest: the server was not started by pgtest")

// Options configure a server started by StartServer.
type Options struct {
	// Durable turns fsync, synchronous_commit and full_page_writes on (the
	// PostgreSQL defaults), for tests and benchmarks whose figures or
	// checks depend on commits reaching the disk.
	Durable bool
	// Settings are more server settings (name to value), passed as
	// "-c name=value"; they override pgtest's own.
	Settings map[string]string
}

// Server is a PostgreSQL server for tests: one that pgtest started, or the
// one EMMETT_POSTGRES_URL names. Its methods are safe for concurrent use.
type Server struct {
	external bool
	baseURL  string // external: the URL as given

	// Managed servers.
	binDir  string
	dir     string // the temporary directory, removed by Close
	dataDir string
	sockDir string
	logPath string
	port    int
	cred    *syscall.Credential // the OS user the server runs as, nil for ourselves
	opts    Options

	mu      sync.Mutex
	proc    *exec.Cmd
	exited  chan struct{} // closed when proc exits
	waitErr error
	closed  bool
}

// External reports whether the server is one given by EMMETT_POSTGRES_URL
// rather than started by pgtest.
func (s *Server) External() bool { return s.external }

// Port is the TCP port of a server pgtest started (0 for an external one).
func (s *Server) Port() int { return s.port }

// LogPath is the server's log file (empty for an external server).
func (s *Server) LogPath() string { return s.logPath }

// SocketDir is the directory holding the server's unix socket (empty for an
// external server).
func (s *Server) SocketDir() string { return s.sockDir }

// URL returns a connection string for the given database (the server's
// default database when empty). For a server that pgtest started it
// connects as the superuser postgres over TCP.
func (s *Server) URL(database string) string {
	if s.external {
		return withDatabase(s.baseURL, database)
	}
	if database == "" {
		database = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, url.PathEscape(database))
}

// ReplicationURL returns a connection string for a logical replication
// connection (replication=database) to the given database.
func (s *Server) ReplicationURL(database string) string {
	return withParam(s.URL(database), "replication", "database")
}

// NewDatabase creates an empty database (from template0) for the test and
// returns its connection string. An external server's database is dropped
// when the test ends; a started server is removed whole at the end.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateDatabase(ctx, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if s.external {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.DropDatabase(ctx, name); err != nil {
				t.Logf("pgtest: %v", err)
			}
		})
	}
	return s.URL(name)
}

// CreateDatabase creates an empty database from template0.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	return s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'")
}

// DropDatabase drops a database, ending the sessions connected to it.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	return s.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (s *Server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL(""))
	if err != nil {
		return fmt.Errorf("connecting to the server: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName makes a database name from a test name: readable, unique and
// at most 63 bytes.
func databaseName(testName string) string {
	name := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t_" + name + "_" + hex.EncodeToString(b)
}

// withDatabase sets the database of a connection string, a URL or a
// keyword/value string.
func withDatabase(connString, database string) string {
	if database == "" {
		return connString
	}
	if u, err := url.Parse(connString); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + database
		u.RawPath = ""
		return u.String()
	}
	return connString + " dbname='" + strings.ReplaceAll(database, "'", `\'`) + "'"
}

func withParam(connString, key, value string) string {
	if u, err := url.Parse(connString); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return connString + " " + key + "=" + value
}

// StartServer initialises and starts a server of its own in a new temporary
// directory. The caller must Close it. The error matches ErrNotFound when
// there is no local installation.
func StartServer(opts Options) (*Server, error) {
	binDir, err := findBinaries()
	if err != nil {
		return nil, err
	}
	removeStaleDirs()
	s := &Server{binDir: binDir, opts: opts}
	if err := s.init(); err != nil {
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
		return nil, err
	}
	if err := s.Start(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

const dirPrefix = "emmett-pgtest-"

func (s *Server) init() error {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.dir = dir
	s.dataDir = filepath.Join(dir, "data")
	s.sockDir = filepath.Join(dir, "sock")
	s.logPath = filepath.Join(dir, "postgres.log")
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Mkdir(s.sockDir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if os.Geteuid() == 0 {
		cred, err := serverUser()
		if err != nil {
			return err
		}
		s.cred = cred
		for _, p := range []string{dir, s.sockDir} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	cmd := exec.Command(filepath.Join(s.binDir, "initdb"),
		"--pgdata", s.dataDir, "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	s.prepare(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb failed: %w\n%s", err, out)
	}
	return nil
}

// serverUser is the OS user a server started as root runs as.
func serverUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pgtest: running as root, and there is no postgres (or nobody) OS user to run the server as")
}

func (s *Server) prepare(cmd *exec.Cmd) {
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "HOME="+s.dir, "LC_ALL=C", "LANG=C", "PGDATA="+s.dataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
}

func (s *Server) settings() []string {
	set := map[string]string{
		"listen_addresses":          "127.0.0.1",
		"port":                      strconv.Itoa(s.port),
		"unix_socket_directories":   s.sockDir,
		"wal_level":                 "logical",
		"max_wal_senders":           "20",
		"max_replication_slots":     "20",
		"max_connections":           "200",
		"shared_buffers":            "128MB",
		"log_min_messages":          "warning",
		"log_min_error_statement":   "panic",
		"log_checkpoints":           "off",
		"max_prepared_transactions": "10",
	}
	if !s.opts.Durable {
		set["fsync"] = "off"
		set["synchronous_commit"] = "off"
		set["full_page_writes"] = "off"
	}
	for k, v := range s.opts.Settings {
		set[k] = v
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", s.dataDir}
	for _, k := range keys {
		args = append(args, "-c", k+"="+set[k])
	}
	return args
}

// Start starts a stopped server, on the same port and with the same data.
func (s *Server) Start() error {
	if s.external {
		return ErrNotManaged
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("pgtest: server closed")
	}
	if s.proc != nil {
		return nil
	}
	if s.port == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.port = port
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(s.binDir, "postgres"), s.settings()...)
	s.prepare(cmd)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := startLocked(cmd); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	exited := make(chan struct{})
	s.proc, s.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	if err := s.waitReady(exited, 60*time.Second); err != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
		s.proc = nil
		return err
	}
	return nil
}

func (s *Server) waitReady(exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("pgtest: postgres exited while starting\n%s", s.LogTail(30))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgconn.Connect(ctx, s.URL(""))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: postgres did not accept connections within %s: %v\n%s", timeout, lastErr, s.LogTail(30))
}

// Stop shuts the server down (a fast shutdown: sessions are ended, open
// transactions rolled back) and waits until it has stopped. Its data stays,
// for Start.
func (s *Server) Stop() error {
	if s.external {
		return ErrNotManaged
	}
	s.mu.Lock()
	proc, exited := s.proc, s.exited
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	_ = proc.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = proc.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = proc.Process.Kill()
			<-exited
		}
	}
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
	return nil
}

// Restart stops and starts the server.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

// Close stops a server that pgtest started and removes its directory. It
// does nothing to an external server.
func (s *Server) Close() error {
	if s.external {
		return nil
	}
	err := s.Stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string { return logTail(s.logPath, n) }

// logTail returns the last n lines of the file at path ("" when it
// cannot be read).
func logTail(path string, n int) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findBinaries returns the directory holding initdb and postgres.
func findBinaries() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w: %s=%s has no initdb and postgres", ErrNotFound, EnvBinDir, dir)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w (looked in $%s, PATH and /usr/lib/postgresql/*/bin; install PostgreSQL or set %s)", ErrNotFound, EnvBinDir, EnvURL)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// removeStaleDirs removes the directories of servers whose test binary died
// without removing them. The server in such a directory is gone already:
// the kernel stopped it when its parent died.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			if first, _, _ := strings.Cut(string(pm), "\n"); first != "" {
				if p, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && processAlive(p) {
					continue // a server still runs there: leave it alone
				}
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// The parent-death signal is sent when the thread that started the child
// ends, not the process; so servers are started from one goroutine locked
// to a thread that lives as long as the process.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func startLocked(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives until the process ends
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
