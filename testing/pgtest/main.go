package pgtest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// The package's server: one per test binary, started on first use. This is
// the one piece of process-wide state in pgtest, as a test binary has one
// set of tests to serve.
var shared struct {
	mu     sync.Mutex
	server *Server
	err    error
	tried  bool
}

// Main runs the tests of a package (call it from TestMain) and then stops and
// removes the server pgtest started for them, if any:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The server itself is started lazily, by the first test that asks for it.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	srv := shared.server
	shared.server, shared.err, shared.tried = nil, nil, false
	shared.mu.Unlock()
	if srv != nil {
		if err := srv.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping the server: %v\n", err)
		}
	}
	return code
}

// Required reports whether EMMETT_REQUIRE_POSTGRES=1 is set: then a missing
// server fails the tests instead of skipping them.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Default returns the package's server: the one EMMETT_POSTGRES_URL names,
// or one started from the local installation on first use. Without either,
// it skips the test (fails it under EMMETT_REQUIRE_POSTGRES=1). A local
// installation that fails to start always fails the test.
func Default(t testing.TB) *Server {
	t.Helper()
	srv, err := defaultServer()
	if err != nil {
		if errors.Is(err, ErrNotFound) && !Required() {
			t.Skipf("pgtest: skipping, no PostgreSQL to test against: %v (set %s=1 to make this a failure)", err, EnvRequire)
		}
		t.Fatalf("pgtest: no PostgreSQL to test against: %v", err)
	}
	return srv
}

func defaultServer() (*Server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.tried {
		return shared.server, shared.err
	}
	shared.tried = true
	if u := os.Getenv(EnvURL); u != "" {
		shared.server = &Server{external: true, baseURL: u}
		return shared.server, nil
	}
	shared.server, shared.err = StartServer(Options{})
	if shared.err != nil {
		shared.server = nil
	}
	return shared.server, shared.err
}

// NewDatabase creates an empty database on the package's server for the
// test and returns its connection string (see Default and
// Server.NewDatabase).
func NewDatabase(t testing.TB) string {
	t.Helper()
	return Default(t).NewDatabase(t)
}

// NewServer starts a server of the test's own from the local installation
// (with opts), for a test that stops, restarts or reconfigures its server,
// and closes it when the test ends. It skips the test under -short
// (testing.Short()), as initialising a server takes seconds; when
// EMMETT_POSTGRES_URL names an external server (a test cannot have one of
// its own then); or when there is no installation (fails it under
// EMMETT_REQUIRE_POSTGRES=1).
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: skipping under -short, the test needs a server of its own")
	}
	if os.Getenv(EnvURL) != "" {
		t.Skipf("pgtest: skipping, the test needs a server of its own, and %s names an external one", EnvURL)
	}
	srv, err := StartServer(opts)
	if err != nil {
		if errors.Is(err, ErrNotFound) && !Required() {
			t.Skipf("pgtest: skipping, no PostgreSQL to test against: %v (set %s=1 to make this a failure)", err, EnvRequire)
		}
		t.Fatalf("pgtest: starting a server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// RequireManaged skips the test when the server is an external one, which
// tests cannot stop or restart.
func (s *Server) RequireManaged(t testing.TB) {
	t.Helper()
	if s.external {
		t.Skipf("pgtest: skipping, the test stops or restarts the server, and %s names an external one", EnvURL)
	}
}
