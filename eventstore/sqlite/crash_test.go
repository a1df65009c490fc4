package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The crash test runs a child process (this test binary again, told by an
// environment variable) that appends in a loop and prints each append the
// store acknowledged; the parent kills it with SIGKILL mid-stream, reopens
// the database and checks it: it opens, it passes SQLite's integrity
// check, it has every acknowledged append, and every append in it is whole.
const (
	crashChildEnv = "EMMETT_SQLITE_CRASH_CHILD" // the database path
	crashSyncEnv  = "EMMETT_SQLITE_CRASH_SYNC"  // the synchronous mode
	crashStreams  = 4                           // streams appended to round-robin
	crashBatch    = 20                          // events per append
)

// crashEvent is the data of every event: enough to tell which append it
// belongs to and where in it.
type crashEvent struct {
	Stream  int    `json:"stream"`
	Append  int64  `json:"append"` // the stream's version before the append
	Index   int    `json:"index"`  // the event's index in the append
	Padding string `json:"padding"`
}

func TestCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path, sqlite.SyncMode(os.Getenv(crashSyncEnv)))
		return
	}
	if testing.Short() {
		t.Skip("the crash test runs child processes; skipped with -short")
	}
	for _, mode := range []sqlite.SyncMode{sqlite.SyncFull, sqlite.SyncNormal} {
		t.Run(string(mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			acked := make(map[string]int64) // stream → highest acknowledged version
			for round := range 3 {
				n := crashRound(t, path, mode, acked)
				t.Logf("round %d: killed after %d acknowledged appends", round, n)
				verifyAfterCrash(t, path, acked)
			}
		})
	}
}

// crashRound runs the child until it has acknowledged a few appends and a
// random while has passed, kills it, and records what it acknowledged.
func crashRound(t *testing.T, path string, mode sqlite.SyncMode, acked map[string]int64) int {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashSyncEnv+"="+string(mode))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())

	var mu sync.Mutex
	count := 0
	enough := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var stream string
			var version int64
			if _, err := fmt.Sscanf(sc.Text(), "ack %s %d", &stream, &version); err != nil {
				continue // the test framework's own output
			}
			mu.Lock()
			acked[stream] = max(acked[stream], version)
			count++
			if count == 10 {
				close(enough)
			}
			mu.Unlock()
		}
	}()
	select {
	case <-enough:
	case <-done:
	case <-time.After(60 * time.Second):
	}
	// Let it run a little longer, a different while each round, so that
	// the kill lands at an arbitrary point of an append.
	time.Sleep(time.Duration(20+rand.IntN(150)) * time.Millisecond)
	_ = cmd.Process.Kill() // SIGKILL
	<-done
	err = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, count, 10, "the child acknowledged appends (exit %v, stderr %s)", err, stderr.String())
	require.Error(t, err, "the child was killed, it did not finish")
	return count
}

// crashChild appends until killed (or, as a bound, for a minute), printing
// "ack <stream> <version>" once an append returned without error.
func crashChild(path string, mode sqlite.SyncMode) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(mode))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	versions := make([]int64, crashStreams)
	for i := range versions {
		if versions[i], _, err = s.StreamVersion(ctx, crashStreamName(i)); err != nil {
			fmt.Fprintln(os.Stderr, "version:", err)
			os.Exit(2)
		}
	}
	padding := strings.Repeat("p", 200)
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		k := i % crashStreams
		events := make([]eventstore.EventData, crashBatch)
		for j := range events {
			data, _ := json.Marshal(crashEvent{Stream: k, Append: versions[k], Index: j, Padding: padding})
			events[j] = eventstore.EventData{Type: "Crashed", Data: data}
		}
		res, err := s.AppendToStream(ctx, crashStreamName(k), events, eventstore.ExpectVersion(versions[k]))
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(2)
		}
		versions[k] = res.NextExpectedVersion
		fmt.Printf("ack %s %d\n", crashStreamName(k), versions[k])
	}
	os.Exit(0)
}

func crashStreamName(i int) string { return fmt.Sprintf("crash-%d", i) }

func verifyAfterCrash(t *testing.T, path string, acked map[string]int64) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err, "the database opens after the crash")
	defer s.Close()

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	var check string
	require.NoError(t, db.QueryRow(`PRAGMA integrity_check`).Scan(&check))
	require.NoError(t, db.Close())
	assert.Equal(t, "ok", check)

	total := int64(0)
	for k := range crashStreams {
		stream := crashStreamName(k)
		v, _, err := s.StreamVersion(ctx, stream)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, v, acked[stream], "%s has every acknowledged append", stream)
		assert.Zero(t, v%crashBatch, "%s has whole appends only (version %d)", stream, v)
		pos := int64(0)
		var appendStart int64
		for e, err := range s.ReadStream(ctx, stream) {
			require.NoError(t, err)
			pos++
			require.Equal(t, pos, e.StreamPosition)
			var ce crashEvent
			require.NoError(t, json.Unmarshal(e.Data, &ce))
			assert.Equal(t, k, ce.Stream)
			assert.Equal(t, (pos-1)/crashBatch*crashBatch, ce.Append, "event %d of %s", pos, stream)
			assert.Equal(t, int((pos-1)%crashBatch), ce.Index, "event %d of %s", pos, stream)
			if ce.Index == 0 {
				appendStart = e.GlobalPosition
			} else {
				assert.Equal(t, appendStart+int64(ce.Index), e.GlobalPosition, "an append's events are consecutive in the log")
			}
		}
		assert.Equal(t, v, pos, "%s: the stream row and the events agree", stream)
		total += v
	}
	var last, n int64
	for e, err := range s.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(t, err)
		n++
		require.Equal(t, last+1, e.GlobalPosition, "the global log has no gap")
		last = e.GlobalPosition
	}
	assert.Equal(t, total, n, "the log holds exactly the streams' events")
}
