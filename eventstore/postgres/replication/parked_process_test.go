package replication_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/internal/childproc"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
)

// The crash test of parked events (projectiontest.RunParkCrash) runs its
// child processes as this test binary again, told by these variables.
const (
	parkChildEnv = "EMMETT_REPLICATION_PARK_CHILD" // the database's URL
	parkStallEnv = "EMMETT_REPLICATION_PARK_STALL" // the park it hangs in, 0 for none
)

// A processor on the replication feed parking events, killed in the
// middle of a batch of the slot's history: the events parked and the
// checkpoint are stored together, or neither.
func TestParkedEventsCrash(t *testing.T) {
	t.Parallel()
	if url := os.Getenv(parkChildEnv); url != "" {
		os.Exit(parkChild(url))
	}
	url := newDatabase(t)
	s := openStore(t, url)
	projectiontest.RunParkCrash(t, projectiontest.ParkCrash{
		Backend:  s,
		Events:   1500,
		Poisoned: projectiontest.AppendPoisonedBacklog(t, s, 1500, 13, 200),
		Start: func(t *testing.T, stallAt int32) projectiontest.Child {
			return childproc.Start(t, []string{parkChildEnv + "=" + url, parkStallEnv + "=" + strconv.Itoa(int(stallAt))},
				"-test.run=^TestParkedEventsCrash$", "-test.count=1")
		},
		Source: newSource(t, s, projectiontest.ParkChildID), // drops the slot at the end
		Killed: func(t *testing.T, cp eventstore.Position) {
			assert.Equal(t, uint64(replication.HistoryLSN), cp.LSN, "killed in the history: %s", cp)
		},
	})
}

// parkChild runs projectiontest.ParkChild on the processor's slot.
func parkChild(url string) int {
	stallAt, _ := strconv.Atoi(os.Getenv(parkStallEnv))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, url)
	if err == nil {
		defer s.Close()
		var src *replication.Source
		if src, err = replication.NewSource(s, projectiontest.ParkChildID, replication.WithBatchSize(childBatch)); err == nil {
			err = projectiontest.ParkChild(ctx, s.Processors(), src, int32(stallAt))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	return 0
}
