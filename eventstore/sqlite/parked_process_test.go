package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/childproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/require"
)

// The crash test of parked events (projectiontest.RunParkCrash) runs its
// child processes as this test binary again, told by these variables.
const (
	parkChildEnv = "EMMETT_SQLITE_PARK_CHILD" // the database path
	parkStallEnv = "EMMETT_SQLITE_PARK_STALL" // the park it hangs in, 0 for none
)

// A processor parking events, killed in the middle of a batch: the events
// parked and the checkpoint are stored together, or neither.
func TestParkedEventsCrash(t *testing.T) {
	if path := os.Getenv(parkChildEnv); path != "" {
		os.Exit(parkChild(path))
	}
	if testing.Short() {
		t.Skip("the process tests run child processes; skipped with -short")
	}
	path := filepath.Join(t.TempDir(), "parked.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.WithLeaseTTL(time.Second), sqlite.WithSynchronous(sqlite.SyncNormal))
	require.NoError(t, err)
	defer s.Close()
	projectiontest.RunParkCrash(t, projectiontest.ParkCrash{
		Backend:  s,
		Events:   2000,
		Poisoned: projectiontest.AppendPoisonedBacklog(t, s, 2000, 17, 250),
		Start: func(t *testing.T, stallAt int32) projectiontest.Child {
			return childproc.Start(t, []string{parkChildEnv + "=" + path, parkStallEnv + "=" + strconv.Itoa(int(stallAt))},
				"-test.run=^TestParkedEventsCrash$", "-test.count=1")
		},
		Source: s.Source(projection.PollBatchSize(procBatch)),
	})
}

// parkChild runs projectiontest.ParkChild on the database, with the lease
// TTL of the test's store (a killed child's lease expires in a second).
func parkChild(path string) int {
	stallAt, _ := strconv.Atoi(os.Getenv(parkStallEnv))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, path, sqlite.WithLeaseTTL(time.Second), sqlite.WithSynchronous(sqlite.SyncNormal))
	if err == nil {
		err = projectiontest.ParkChild(ctx, s.Processors(), s.Source(projection.PollBatchSize(procBatch)), int32(stallAt))
		_ = s.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	return 0
}
