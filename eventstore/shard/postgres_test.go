package shard_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/shard"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	started.mu.Lock()
	for _, srv := range started.servers {
		_ = srv.Close()
	}
	started.mu.Unlock()
	os.Exit(code)
}

// started holds the package's servers besides pgtest's, started on first
// use: the second server of the tests' shards, and the two durable ones of
// the benchmark.
var started struct {
	mu      sync.Mutex
	servers map[string]*pgtest.Server
}

// server returns the package's server of that name, starting it.
func server(t testing.TB, name string, opts pgtest.Options) *pgtest.Server {
	t.Helper()
	started.mu.Lock()
	defer started.mu.Unlock()
	if srv, ok := started.servers[name]; ok {
		return srv
	}
	srv, err := pgtest.StartServer(opts)
	if err != nil {
		t.Fatalf("starting server %s: %v", name, err)
	}
	if started.servers == nil {
		started.servers = map[string]*pgtest.Server{}
	}
	started.servers[name] = srv
	return srv
}

// servers returns the package's two servers; it skips where pgtest would
// (no installation), under -short (as pgtest.NewServer does), and where
// EMMETT_POSTGRES_URL names one server.
func servers(t testing.TB) (*pgtest.Server, *pgtest.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping under -short: sharding needs a second server of the package's own")
	}
	first := pgtest.Default(t)
	if first.External() {
		t.Skipf("sharding needs two servers of pgtest's own, and %s names an external one", pgtest.EnvURL)
	}
	return first, server(t, "second", pgtest.Options{})
}

func openShard(t testing.TB, srv *pgtest.Server, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	// A copy of a database migrated once per server: migrating each took
	// as long as the rest of a test.
	url := srv.NewDatabaseFrom(t, "emmett_migrated", func(ctx context.Context, connString string) error {
		s, err := postgres.Open(ctx, connString)
		if err != nil {
			return err
		}
		return s.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, url, append([]postgres.Option{postgres.WithAutoCreatePartitions()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, url
}

// rowsByPartition counts a table's rows per partition, querying the
// server directly.
func rowsByPartition(t *testing.T, url, table string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT partition, count(*) FROM "+table+" GROUP BY partition")
	require.NoError(t, err)
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		require.NoError(t, rows.Scan(&p, &n))
		out[p] = n
	}
	require.NoError(t, rows.Err())
	return out
}

// Tenant A on one server, tenant B on another: commands for both through
// one handler, inline and asynchronous projections per shard, and each
// server holds only its own tenant's rows.
func TestTwoServers(t *testing.T) {
	srv1, srv2 := servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inline := balances("balances")
	async := balances("async_balances")
	store1, url1 := openShard(t, srv1, postgres.WithProjections(inline))
	store2, url2 := openShard(t, srv2, postgres.WithProjections(inline))
	require.NotEqual(t, srv1.Port(), srv2.Port())

	router, err := shard.New(map[string]*postgres.Store{"server-1": store1, "server-2": store2},
		shard.WithPartitions(map[string]string{"tenant-a": "server-1"}),
		shard.WithResolver(func(_ context.Context, tenant string) (string, error) {
			if tenant == "tenant-b" { // a lookup in the application's tenant table
				return "server-2", nil
			}
			return "", shard.ErrNoShard
		}))
	require.NoError(t, err)

	// A processor per shard, running while the commands come in.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	processors := shard.Build(router, func(_ string, s *postgres.Store) *projection.Processor {
		return projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollInterval(20*time.Millisecond)), async)
	})
	for name, p := range processors.All() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, p.Run(runCtx), name)
		}()
	}
	defer wg.Wait()
	defer stop()

	h := command.NewDeciderHandler(router, accounts, accountEvents)
	last := map[string]eventstore.Position{}
	for i := range 4 {
		for _, tenant := range []string{"tenant-a", "tenant-b"} {
			res, err := h.Handle(ctx, fmt.Sprintf("account-%d", i%2), Deposit{Amount: 5}, eventstore.InPartition(tenant))
			require.NoError(t, err)
			last[tenant] = res.Position
		}
	}
	_, err = h.Handle(ctx, "account-0", Deposit{Amount: 5}, eventstore.InPartition("tenant-c"))
	require.ErrorIs(t, err, shard.ErrNoShard)

	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		p, err := processors.For(ctx, tenant)
		require.NoError(t, err)
		require.NoError(t, p.WaitFor(ctx, last[tenant]), tenant)
		s, err := router.For(ctx, tenant)
		require.NoError(t, err)
		for _, p := range []*projection.DocumentProjection[Balance, AccountEvent]{inline, async} {
			for _, account := range []string{"account-0", "account-1"} {
				b, found, err := p.Collection(s.Documents()).Get(ctx, account)
				require.NoError(t, err)
				require.True(t, found, "%s: %s of %s", p.Name(), account, tenant)
				assert.Equal(t, Balance{Total: 10, Deposits: 2}, b, "%s: %s of %s", p.Name(), account, tenant)
			}
		}
		// Reads through the router: the tenant's stream, its log.
		n := 0
		for _, err := range router.ReadStream(ctx, "account-0", eventstore.InPartition(tenant)) {
			require.NoError(t, err)
			n++
		}
		assert.Equal(t, 2, n)
		assert.Equal(t, map[string]int{"account-0": 2, "account-1": 2}, streamsOf(t, router, eventstore.InPartition(tenant)))
	}
	for _, err := range router.ReadAll(ctx, eventstore.Position{}) {
		assert.ErrorIs(t, err, shard.ErrNoGlobalOrder)
	}

	// Each server holds its own tenant's rows, and nothing of the other's.
	for url, tenant := range map[string]string{url1: "tenant-a", url2: "tenant-b"} {
		assert.Equal(t, map[string]int{tenant: 4}, rowsByPartition(t, url, "emt_messages"), "events on the server of %s", tenant)
		assert.Equal(t, map[string]int{tenant: 2}, rowsByPartition(t, url, "emt_streams"), "streams on the server of %s", tenant)
	}
	for store, other := range map[*postgres.Store]string{store1: "tenant-b", store2: "tenant-a"} {
		partitions, err := store.Partitions(ctx)
		require.NoError(t, err)
		assert.NotContains(t, partitions, other)
	}
	// The read models are each shard's own: four deposits on each server.
	for _, url := range []string{url1, url2} {
		total := 0
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		for _, p := range []*projection.DocumentProjection[Balance, AccountEvent]{inline, async} {
			var n int
			require.NoError(t, conn.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(sum((data->>'deposits')::int), 0) FROM %q`, p.CollectionName())).Scan(&n))
			total += n
		}
		conn.Close(ctx)
		assert.Equal(t, 8, total, "4 deposits in each of the server's 2 read models")
	}
}

// BenchmarkWriters: 8 writers append single events to streams of their
// own, their tenants on 1 shard or spread over 2 (servers of their own),
// on pgtest's servers (commits not flushed) and on durable ones (fsync and
// synchronous_commit on). The two set-ups run alternately, ten rounds of
// b.N/10 appends each, so that both see the same load of the (shared)
// machine; the ratio is 2 shards' throughput over 1 shard's. Both servers
// run on the same machine: on 2 cores, a second server adds no CPU, so the
// figure shows the router's overhead and what splitting the commits'
// contention and flushes gives, not what a second machine would give.
func BenchmarkWriters(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			srv1, srv2 := servers(b)
			if durable {
				srv1 = server(b, "durable-1", pgtest.Options{Durable: true})
				srv2 = server(b, "durable-2", pgtest.Options{Durable: true})
			}
			one := writersRouter(b, srv1, nil)
			two := writersRouter(b, srv1, srv2)
			const rounds = 10
			per := max(b.N/rounds, writers)
			var took [2]time.Duration
			b.ResetTimer()
			for r := range rounds {
				for k := range 2 {
					k = (k + r) % 2 // alternate which goes first
					took[k] += runWriters(b, []*shard.Router[*postgres.Store]{one, two}[k], per)
				}
			}
			b.StopTimer()
			n := float64(per * rounds)
			b.ReportMetric(n/took[0].Seconds(), "appends/s-1shard")
			b.ReportMetric(n/took[1].Seconds(), "appends/s-2shards")
			b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "ratio")
		})
	}
}

const writers = 8

// writersRouter opens a store on a new database of srv1 (and of srv2, when
// given) and routes the writers' tenants over them.
func writersRouter(b *testing.B, srv1, srv2 *pgtest.Server) *shard.Router[*postgres.Store] {
	stores := map[string]*postgres.Store{}
	stores["one"], _ = openShard(b, srv1)
	names := []string{"one"}
	if srv2 != nil {
		stores["two"], _ = openShard(b, srv2)
		names = append(names, "two")
	}
	partitions := map[string]string{}
	for w := range writers {
		partitions[fmt.Sprintf("tenant-%d", w)] = names[w%len(names)]
	}
	router, err := shard.New(stores, shard.WithPartitions(partitions))
	require.NoError(b, err)
	ctx := context.Background()
	for w := range writers { // create the partitions before timing
		_, err := router.AppendToStream(ctx, "warmup-1", deposit(1), eventstore.InPartition(fmt.Sprintf("tenant-%d", w)))
		require.NoError(b, err)
	}
	return router
}

// runWriters makes n appends with 8 writers, and returns how long it took.
func runWriters(b *testing.B, router *shard.Router[*postgres.Store], n int) time.Duration {
	ctx := context.Background()
	data := deposit(1)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opt := eventstore.InPartition(fmt.Sprintf("tenant-%d", w))
			for i := w; i < n; i += writers {
				if _, err := router.AppendToStream(ctx, fmt.Sprintf("account-%d", w), data, opt); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return took
}

// Shards of replicas: each shard a primary and its standby.
var _ = shard.New[*postgres.Replica]
