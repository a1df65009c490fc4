package pgtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartStandby starts a streaming-replication standby of s: a server of
// its own, made with pg_basebackup -R from s (which pgtest starts with
// wal_level=logical and WAL senders), running as a hot standby that
// serves reads. It has s's databases as of the base backup and follows s
// from then on. The caller must Close it. s must be a server pgtest
// started (the error matches ErrNotManaged otherwise).
func (s *Server) StartStandby(opts Options) (*Server, error) {
	if s.external {
		return nil, ErrNotManaged
	}
	// A standby needs at least the primary's limits; hot_standby serves
	// reads; the feedback keeps the primary from removing rows a query on
	// the standby still reads. opts.Settings win.
	settings := map[string]string{
		"hot_standby":                  "on",
		"hot_standby_feedback":         "on",
		"wal_receiver_status_interval": "1s",
		"wal_retrieve_retry_interval":  "100ms",
	}
	primary := s.settingsMap()
	for _, k := range []string{"max_connections", "max_prepared_transactions", "max_wal_senders", "max_replication_slots", "max_worker_processes", "max_locks_per_transaction"} {
		if v, ok := primary[k]; ok {
			settings[k] = v
		}
	}
	maps.Copy(settings, opts.Settings)
	opts.Settings = settings
	st := &Server{binDir: s.binDir, cred: s.cred, opts: opts}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	st.dir = dir
	st.dataDir = filepath.Join(dir, "data")
	st.sockDir = filepath.Join(dir, "sock")
	st.logPath = filepath.Join(dir, "postgres.log")
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if err := os.Mkdir(st.sockDir, 0o700); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if st.cred != nil {
		for _, p := range []string{dir, st.sockDir} {
			if err := os.Chown(p, int(st.cred.Uid), int(st.cred.Gid)); err != nil {
				return fail(fmt.Errorf("pgtest: %w", err))
			}
		}
	}
	// -R writes standby.signal and primary_conninfo; fast checkpoint and
	// streamed WAL make the copy quick and complete.
	basebackup, err := s.tool("pg_basebackup")
	if err != nil {
		return fail(err)
	}
	cmd := exec.Command(basebackup,
		"--pgdata", st.dataDir, "--host", "127.0.0.1", "--port", strconv.Itoa(s.port), "--username", "postgres",
		"--write-recovery-conf", "--checkpoint", "fast", "--wal-method", "stream", "--no-sync")
	st.prepare(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: pg_basebackup failed: %w\n%s", err, out))
	}
	// The standby's port and socket come from its command line, as every
	// server's do.
	if err := st.Start(); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// tool returns the path of one of the installation's programs: in the
// directory of initdb and postgres, or in the one postgres links to (a
// PATH holding links to some programs only).
func (s *Server) tool(name string) (string, error) {
	p := filepath.Join(s.binDir, name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(s.binDir, "postgres")); err == nil {
		if p := filepath.Join(filepath.Dir(real), name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no %s beside %s", ErrNotFound, name, filepath.Join(s.binDir, "postgres"))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// settingsMap is the settings a server runs with, by name.
func (s *Server) settingsMap() map[string]string {
	args := s.settings()
	out := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-c" {
			continue
		}
		k, v, _ := strings.Cut(args[i+1], "=")
		out[k] = v
	}
	return out
}

// NewStandby starts a standby of the package's server (see Default and
// Server.StartStandby) for the test, and closes it when the test ends. It
// skips the test under -short, as NewServer does; when EMMETT_POSTGRES_URL
// names an external server; or when there is no installation, or no
// pg_basebackup in it (fails it under EMMETT_REQUIRE_POSTGRES=1).
// A standby takes a second or two to start: share one between the tests of
// a package where they allow it.
func NewStandby(t testing.TB) (primary, standby *Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: skipping under -short, the test needs a standby server of its own")
	}
	primary = Default(t)
	primary.RequireManaged(t)
	st, err := primary.StartStandby(Options{})
	if err != nil {
		if errors.Is(err, ErrNotFound) && !Required() {
			t.Skipf("pgtest: skipping, no standby to test against: %v (set %s=1 to make this a failure)", err, EnvRequire)
		}
		t.Fatalf("pgtest: starting a standby: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return primary, st
}

// WaitReplayed waits until the standby has replayed the primary's WAL as
// of now (its current insert position): whatever committed on the primary
// before the call can be read on the standby after it.
func (s *Server) WaitReplayed(ctx context.Context, primary *Server) error {
	p, err := pgx.Connect(ctx, primary.URL(""))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer p.Close(context.Background())
	var target string
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&target); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	c, err := pgx.Connect(ctx, s.URL(""))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(context.Background())
	for {
		var done bool
		err := c.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, NOT pg_is_in_recovery())", target).Scan(&done)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("pgtest: the standby has not replayed the primary's WAL"), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
