// Package childproc runs a test binary again as a child process, for tests
// that kill a process (SIGKILL) at a point of their choosing: the child is
// told what to do by environment variables, prints its progress a line at
// a time, and the test waits for the lines it expects.
package childproc

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Timeout is how long Expect waits for a line.
const Timeout = 60 * time.Second

// Child is a child process running this test binary.
type Child struct {
	cmd   *exec.Cmd
	lines chan string // what it printed, in order, until nobody reads

	mu     sync.Mutex
	all    []string // every line it printed
	stderr strings.Builder
}

// Start runs this test binary again with args (such as
// "-test.run=^TestX$"), and the environment and env ("NAME=value"). It
// reads what the child prints; the child is killed, if still running, when
// the test ends.
func Start(t testing.TB, env []string, args ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &Child{cmd: cmd, lines: make(chan string, 4096)}
	cmd.Stderr = stderrWriter{c}
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.all = append(c.all, sc.Text())
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default: // nobody reads any more: c.all has it
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

type stderrWriter struct{ c *Child }

func (w stderrWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.stderr.Write(p)
}

// Expect waits for a line starting with prefix, after those it returned
// before, and returns its fields. It fails the test if the child ends
// first or prints no such line within Timeout.
func (c *Child) Expect(t testing.TB, prefix string) []string {
	t.Helper()
	timeout := time.After(Timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("the child ended before printing %q; stderr:\n%s", prefix, c.errors())
			}
			if strings.HasPrefix(line, prefix) {
				return strings.Fields(line)
			}
		case <-timeout:
			t.Fatalf("the child did not print %q in time; it printed %q; stderr:\n%s", prefix, c.Seen(""), c.errors())
		}
	}
}

// Seen returns the lines printed so far that start with prefix.
func (c *Child) Seen(prefix string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.all {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func (c *Child) errors() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Kill())
	require.Error(t, c.cmd.Wait(), "the child was killed, it did not finish")
}

// Wait waits for the child to exit by itself, and requires it to succeed.
func (c *Child) Wait(t testing.TB) {
	t.Helper()
	for range c.lines { // drain, so that it can exit
	}
	require.NoError(t, c.cmd.Wait(), "stderr:\n%s", c.errors())
}
