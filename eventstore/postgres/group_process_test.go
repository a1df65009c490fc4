package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/internal/childproc"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupProcesses runs an application of six processors in three
// processes (this test binary again, told by environment variables), each
// an instance of one projection.Group, while writers append: each runs two
// processors; after one is killed with SIGKILL, the two others take its
// processors over within the bound the instances' TTL sets; once it is
// started again, the processors are rebalanced to two each. Every
// projection also counts, in the transaction of its batch, how many times
// it applied each event: once, for every event. The process is killed in
// the middle of a batch: written, not committed. A child prints
//
//	running <n> <processor ids...>   whenever the processors it runs change
//	mid <processor id>               in each batch, once its writes are
//	                                 done, before a pause of 20 ms and the
//	                                 commit
//
// It runs twice: with the processors' session-level advisory locks, on
// direct connections, and through a PgBouncer in transaction mode
// (WithPooler) with lease locks of 2 seconds, which a killed process
// holds until they expire.
const (
	groupChildEnv    = "EMMETT_GROUP_CHILD"    // the database's URL
	groupInstanceEnv = "EMMETT_GROUP_INSTANCE" // the instance's id
	groupPoolerEnv   = "EMMETT_GROUP_POOLER"   // "1": WithPooler and leases of groupLease
	groupTTL         = 2 * time.Second         // the instances' TTL
	groupLease       = 2 * time.Second         // the processors' leases through the pooler
)

func TestGroupProcesses(t *testing.T) {
	if url := os.Getenv(groupChildEnv); url != "" {
		os.Exit(groupChild(url, os.Getenv(groupInstanceEnv), os.Getenv(groupPoolerEnv) == "1"))
	}
	if testing.Short() {
		t.Skip("the process tests run child processes; skipped with -short")
	}
	t.Parallel()
	t.Run("AdvisoryLocks", func(t *testing.T) {
		db := newMigratedDatabase(t)
		testGroupProcesses(t, db, db, groupTTL+groupTTL/4)
	})
	t.Run("PoolerLeases", func(t *testing.T) {
		db := newMigratedDatabase(t)
		// The leases expire meanwhile: the longer of the two bounds.
		testGroupProcesses(t, db, newBouncer(t).Through(db), max(groupTTL+groupTTL/4, groupLease+time.Second/2))
	})
}

// testGroupProcesses runs the case with the children on childURL (the
// database db directly, or through a pooler), expecting a takeover within
// bound after a kill.
func testGroupProcesses(t *testing.T, db, childURL string, bound time.Duration) {
	ctx := t.Context()
	pooler := "0"
	if childURL != db {
		pooler = "1"
	}
	// The package's readAllWait: the replay below reads the whole log even
	// while another test's transaction is open.
	s, err := postgres.Open(ctx, db, postgres.WithReadAllWait(readAllWait))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.Pool().Exec(ctx, createAppliedSQL)
	require.NoError(t, err)

	stopWriters := startWriters(t, s, 2)
	children := map[string]*childproc.Child{}
	seen := map[string]int{} // lines of each child checked
	start := func(id string) {
		seen[id] = 0
		children[id] = childproc.Start(t, []string{groupChildEnv + "=" + childURL, groupInstanceEnv + "=" + id, groupPoolerEnv + "=" + pooler},
			"-test.run=^TestGroupProcesses$", "-test.count=1")
	}
	for _, id := range []string{"instance-1", "instance-2", "instance-3"} {
		start(id)
	}
	// The first to start runs all six until the others join.
	took := waitRunning(t, children, []string{"instance-1", "instance-2", "instance-3"}, projectiontest.GroupProcessors, seen)
	t.Logf("3 processes run 2 processors each, %v after the last started", took.Round(time.Millisecond))

	victim := children["instance-2"]
	batches := len(victim.Seen("mid "))
	waitUntil(t, "a batch of instance-2 in the middle", func() bool { return len(victim.Seen("mid ")) > batches })
	victim.Kill(t)
	killed := time.Now()
	took = waitRunning(t, children, []string{"instance-1", "instance-3"}, 3, seen)
	t.Logf("the 2 others run the killed process's processors %v after the kill (TTL %v: bound %v)",
		took.Round(time.Millisecond), groupTTL, bound)
	assert.Less(t, time.Since(killed), 4*bound, "taken over within the bound, with slack for a loaded machine")

	start("instance-2")
	took = waitRunning(t, children, []string{"instance-1", "instance-2", "instance-3"}, 3, seen)
	t.Logf("rebalanced to 2/2/2 %v after the process started again", took.Round(time.Millisecond))

	appended, last := stopWriters()
	// The target is the last position the appends returned, not the
	// store's Head: the server's oldest open transaction, in any database
	// (another test's bulk write, seconds long under -race on a loaded
	// machine), bounds the head, and once Head's wait for it has run out
	// it returns the last event before that transaction, short of the
	// events appended since: the processors, stalled there as well, would
	// be found at that head and killed before they applied the rest.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for i := 1; i <= projectiontest.GroupProcessors; i++ {
		// Not run here: WaitFor follows the stored checkpoint.
		p := projection.NewProjectionProcessor(s.Processors(), s.Source(), projectiontest.GroupCounters(i))
		require.NoError(t, p.WaitFor(wctx, last))
	}
	for _, c := range children {
		c.Kill(t)
	}

	events := requireAppliedOnce(t, s, projectiontest.GroupProcessors)
	assert.Equal(t, appended, events)
	t.Logf("%d events appended while the processes ran", events)
	for i := 1; i <= projectiontest.GroupProcessors; i++ {
		projectiontest.RequireCountersMatchReplay(t, s, fmt.Sprintf("group_counters_%d", i))
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(childproc.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", childproc.Timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// startWriters appends events with n writers until the function it
// returns is called; that returns the number of events appended and the
// last position an append returned (in log order).
func startWriters(t *testing.T, s *postgres.Store, n int) func() (int, eventstore.Position) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	var mu sync.Mutex
	total := 0
	var last eventstore.Position
	var failed error
	for w := range n {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
				evs := []projectiontest.Event{projectiontest.Incremented{By: i%7 + 1, Group: fmt.Sprint("g", i%3)}}
				if i%5 == 0 {
					evs = append(evs, projectiontest.Tagged{Tag: fmt.Sprint("t", i%4)})
				}
				data, err := eventstore.Encode(projectiontest.Events, evs, emmett.Metadata{})
				var res eventstore.AppendResult
				if err == nil {
					res, err = s.AppendToStream(context.Background(), fmt.Sprintf("counter-%d-%d", w, i%11), data)
				}
				mu.Lock()
				if err != nil {
					failed = errors.Join(failed, err)
				} else {
					total += len(evs)
					if last.Before(res.Position) {
						last = res.Position
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	return func() (int, eventstore.Position) {
		close(done)
		wg.Wait()
		require.NoError(t, failed)
		return total, last
	}
}

// waitRunning waits until the children named run two or three processors
// each, evenly, every processor in one of them, and returns how long it
// waited. It fails the test if a child prints that it runs more than most.
//
// Only the lines printed since the last call count against most: seen
// holds how many lines of each child were checked already.
func waitRunning(t *testing.T, children map[string]*childproc.Child, live []string, most int, seen map[string]int) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(childproc.Timeout)
	want := projectiontest.GroupProcessors / len(live)
	for {
		var all []string
		even := true
		for _, id := range live {
			lines := children[id].Seen("running ")
			for _, l := range lines[min(seen[id], len(lines)):] {
				f := strings.Fields(l)
				n, err := strconv.Atoi(f[1])
				require.NoError(t, err)
				require.LessOrEqual(t, n, most, "%s printed %q", id, l)
			}
			if len(lines) == 0 {
				even = false
				continue
			}
			f := strings.Fields(lines[len(lines)-1])
			even = even && len(f)-2 == want
			all = append(all, f[2:]...)
		}
		slices.Sort(all)
		if even && len(all) == projectiontest.GroupProcessors && len(slices.Compact(all)) == projectiontest.GroupProcessors {
			for id, c := range children {
				seen[id] = len(c.Seen("running "))
			}
			return time.Since(start)
		}
		select {
		case <-deadline:
			t.Fatalf("the processes %v do not run %d processors each: all %v", live, want, all)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// createAppliedSQL creates the table where tallied projections count the
// events they applied.
const createAppliedSQL = `CREATE TABLE group_applied (processor text, global_position bigint, applied int NOT NULL,
    PRIMARY KEY (processor, global_position))`

// requireAppliedOnce requires each of the processors that tallied their
// events to have applied every event of the log once, and returns the
// number of events.
func requireAppliedOnce(t *testing.T, s *postgres.Store, processors int) int {
	t.Helper()
	ctx := t.Context()
	var events int
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM emt_messages`).Scan(&events))
	rows, err := s.Pool().Query(ctx, `SELECT processor, count(*), max(applied) FROM group_applied GROUP BY processor ORDER BY processor`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var processor string
		var applied, most int
		require.NoError(t, rows.Scan(&processor, &applied, &most))
		n++
		assert.Equal(t, events, applied, "processor %s applied every event", processor)
		assert.Equal(t, 1, most, "processor %s applied no event twice", processor)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, processors, n)
	return events
}

// tallied is a projection that also counts, in its batch's transaction,
// the events it applied, per processor and event, and then calls written,
// if set, before the batch commits.
type tallied struct {
	projection.Projection
	processor string
	written   func(processor string)
}

func (p tallied) Handle(ctx context.Context, tx projection.Tx, events []emmett.RecordedEvent) error {
	if err := p.Projection.Handle(ctx, tx, events); err != nil {
		return err
	}
	positions := make([]int64, len(events))
	for i, e := range events {
		positions[i] = e.GlobalPosition
	}
	_, err := tx.Unwrap().(pgx.Tx).Exec(ctx, `INSERT INTO group_applied (processor, global_position, applied)
SELECT $1, unnest($2::bigint[]), 1
ON CONFLICT (processor, global_position) DO UPDATE SET applied = group_applied.applied + 1`, p.processor, positions)
	if err == nil && p.written != nil {
		p.written(p.processor)
	}
	return err
}

// groupChild runs the instance of the group until killed (or two minutes
// pass), printing the processors it runs whenever they change.
func groupChild(url, instance string, pooler bool) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var opts []postgres.Option
	if pooler {
		opts = append(opts, postgres.WithPooler(), postgres.WithLeaseLocks(groupLease))
	}
	s, err := postgres.Open(ctx, withPoolSize(url, 16), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	defer s.Close()
	var procs []*projection.Processor
	for i := 1; i <= projectiontest.GroupProcessors; i++ {
		p := projectiontest.GroupCounters(i)
		procs = append(procs, projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(50)),
			tallied{Projection: p, processor: p.Name(), written: func(processor string) {
				fmt.Println("mid", processor)
				time.Sleep(20 * time.Millisecond) // uncommitted: a kill now rolls the batch back
			}}))
	}
	g := projection.NewGroup(s.Membership(), "counters-app", procs, projection.WithInstanceID(instance),
		projection.WithInstanceTTL(groupTTL))
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var last []string
	for {
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "run:", err)
				return 2
			}
			return 0
		case <-time.After(10 * time.Millisecond):
		}
		if now := g.Running(); !slices.Equal(now, last) || last == nil {
			fmt.Println("running", len(now), strings.Join(now, " "))
			last = now
			if last == nil {
				last = []string{}
			}
		}
	}
}
