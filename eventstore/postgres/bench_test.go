package postgres_test

// Benchmarks of the hot paths against the raw database doing the same writes
// and reads, in the same process against the same server. Each pair prints
// its ratio (the store's throughput over raw pgx's; 1 is parity).
//
// The server is durable (fsync and synchronous_commit on, as in production)
// unless EMMETT_BENCH_FSYNC=off, or EMMETT_POSTGRES_URL names one.
//
//	go test -run '^$' -bench . -benchtime 2s ./eventstore/postgres/

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

var benchServer struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

// benchDatabase gives a fresh database on the benchmarks' server.
func benchDatabase(b *testing.B) string {
	b.Helper()
	if os.Getenv(pgtest.EnvURL) != "" || os.Getenv("EMMETT_BENCH_FSYNC") == "off" {
		return pgtest.NewDatabase(b)
	}
	pgtest.Default(b) // skips (or fails) the same way when there is no PostgreSQL
	benchServer.once.Do(func() {
		benchServer.srv, benchServer.err = pgtest.StartServer(pgtest.Options{Durable: true})
	})
	require.NoError(b, benchServer.err)
	return benchServer.srv.NewDatabase(b)
}

func closeBenchServer() {
	if benchServer.srv != nil {
		_ = benchServer.srv.Close()
	}
}

type benchEnv struct {
	store *postgres.Store
	pool  *pgxpool.Pool // raw pgx on the same database
	db    string        // the database's connection string (no pool settings)
}

// The application names of the benchmarks' sessions, which tell the
// store's server processes from raw pgx's.
const (
	storeApplication = "emmett_bench_store"
	rawApplication   = "emmett_bench_raw"
)

func newBenchEnv(b *testing.B) benchEnv {
	b.Helper()
	return newBenchEnvWith(b, "")
}

// newBenchEnvWith is newBenchEnv with more connection parameters for both
// pools (params starts with "&"): a server setting given there, as
// "&synchronous_commit=off", is set in each session.
func newBenchEnvWith(b *testing.B, params string) benchEnv {
	b.Helper()
	db := benchDatabase(b) + params
	ctx := context.Background()
	s, err := postgres.Open(ctx, db+"&pool_max_conns=16&application_name="+storeApplication)
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	pool, err := pgxpool.New(ctx, db+"&pool_max_conns=16&application_name="+rawApplication)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	return benchEnv{store: s, pool: pool, db: db}
}

// runWriters runs b.N operations on the given number of goroutines.
func runWriters(b *testing.B, writers int, op func(w int, i int64) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) || failed.Load() != nil {
					return
				}
				if err := op(w, i); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

// Variants of an operation in a comparison.
const (
	store = "Store"
	// raw writes the same rows as the store (stream row and event rows),
	// with plain INSERT and UPDATE statements sent together in one round
	// trip and one transaction, checking nothing.
	raw = "Raw"
	// rawEventsOnly writes only the event rows, with single-row INSERTs:
	// a floor that leaves out the stream row Node's schema keeps.
	rawEventsOnly = "RawEventsOnly"
)

// pair runs a sub-benchmark per variant, for their figures, and then prints
// the ratio of the store's throughput to each raw variant's, measured by
// running the two alternately, in rounds, so that a change of load on the
// machine weighs on both alike. op(variant) gives the operation of a
// variant: operation i of writer w, each writing or reading eventsPerOp
// events.
func pair(b *testing.B, writers, eventsPerOp int, variants []string, op func(variant string) func(w int, i int64) error) {
	b.Helper()
	for _, v := range append([]string{store}, variants...) {
		b.Run(v, func(b *testing.B) {
			runWriters(b, writers, op(v))
			b.ReportMetric(float64(eventsPerOp*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	if testing.Short() {
		return
	}
	timed := func(variant string, n int64) time.Duration {
		f := op(variant)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := range writers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
					if err := f(w, i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	// Rounds of about 100ms or more each.
	n := int64(max(writers, 1))
	for d := timed(store, n); d < 100*time.Millisecond; d = timed(store, n) {
		n *= 2
	}
	for _, v := range variants {
		var rawTime, storeTime time.Duration
		const rounds = 10
		for r := range rounds {
			if r%2 == 0 {
				rawTime += timed(v, n)
				storeTime += timed(store, n)
			} else {
				storeTime += timed(store, n)
				rawTime += timed(v, n)
			}
		}
		events := float64(int64(eventsPerOp) * n * rounds)
		fmt.Printf("RATIO %s: store/%s = %.2f (interleaved, %d rounds of %d operations: %s %.0f events/s, store %.0f events/s)\n",
			b.Name(), v, rawTime.Seconds()/storeTime.Seconds(), rounds, n, v, events/rawTime.Seconds(), events/storeTime.Seconds())
	}
}

const rawInsertSQL = `INSERT INTO emt_messages (stream_id, stream_position, partition, message_data, message_metadata,
 message_schema_version, message_type, message_kind, message_id, transaction_id)
VALUES ($1, $2, 'emt:default', $3, '{}', '1', $4, 'E', $5, pg_current_xact_id())`

var benchData = []byte(`{"productId":"p-42","quantity":3,"unitPrice":12.5}`)

const (
	rawStreamInsertSQL = `INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
VALUES ($1, $2, 'emt:default', 's', '{}', FALSE)`
	rawStreamUpdateSQL = `UPDATE emt_streams SET stream_position = $2
WHERE stream_id = $1 AND partition = 'emt:default' AND is_archived = FALSE`
)

func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	var run atomic.Int64 // distinct stream names for every measurement
	one := []eventstore.EventData{{Type: "ProductItemAdded", Data: benchData}}
	hundred := make([]eventstore.EventData, 100)
	for i := range hundred {
		hundred[i] = eventstore.EventData{Type: "ProductItemAdded", Data: benchData}
	}
	rawInsert := func(batch *pgx.Batch, stream string, position int64) {
		batch.Queue(rawInsertSQL, stream, position, benchData, "ProductItemAdded", uuid.NewString())
	}
	variants := []string{raw, rawEventsOnly}
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("NewStream/Writers=%d", writers), func(b *testing.B) {
			env := newBenchEnv(b)
			pair(b, writers, 1, variants, func(variant string) func(int, int64) error {
				prefix := fmt.Sprintf("s%d-", run.Add(1))
				switch variant {
				case raw:
					return func(w int, i int64) error {
						batch := &pgx.Batch{}
						stream := fmt.Sprint(prefix, i)
						batch.Queue(rawStreamInsertSQL, stream, int64(1))
						rawInsert(batch, stream, 1)
						return env.pool.SendBatch(ctx, batch).Close()
					}
				case rawEventsOnly:
					return func(w int, i int64) error {
						_, err := env.pool.Exec(ctx, rawInsertSQL, fmt.Sprint(prefix, i), int64(1), benchData, "ProductItemAdded", uuid.NewString())
						return err
					}
				}
				return func(w int, i int64) error {
					_, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, i), one)
					return err
				}
			})
		})
		b.Run(fmt.Sprintf("ExistingStream/ExactVersion/Writers=%d", writers), func(b *testing.B) {
			env := newBenchEnv(b)
			pair(b, writers, 1, variants, func(variant string) func(int, int64) error {
				prefix := fmt.Sprintf("s%d-", run.Add(1))
				versions := make([]int64, writers) // each writer appends to a stream of its own
				for w := range writers {
					res, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, w), one, eventstore.ExpectNoStream())
					require.NoError(b, err)
					versions[w] = res.NextExpectedVersion
				}
				switch variant {
				case raw:
					return func(w int, i int64) error {
						versions[w]++
						batch := &pgx.Batch{}
						stream := fmt.Sprint(prefix, w)
						batch.Queue(rawStreamUpdateSQL, stream, versions[w])
						rawInsert(batch, stream, versions[w])
						return env.pool.SendBatch(ctx, batch).Close()
					}
				case rawEventsOnly:
					return func(w int, i int64) error {
						versions[w]++
						_, err := env.pool.Exec(ctx, rawInsertSQL, fmt.Sprint(prefix, w), versions[w], benchData, "ProductItemAdded", uuid.NewString())
						return err
					}
				}
				return func(w int, i int64) error {
					res, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, w), one, eventstore.ExpectVersion(versions[w]))
					versions[w] = res.NextExpectedVersion
					return err
				}
			})
		})
		b.Run(fmt.Sprintf("Batch100/Writers=%d", writers), func(b *testing.B) {
			env := newBenchEnv(b)
			pair(b, writers, 100, variants, func(variant string) func(int, int64) error {
				prefix := fmt.Sprintf("s%d-", run.Add(1))
				if variant == store {
					return func(w int, i int64) error {
						_, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, i), hundred)
						return err
					}
				}
				// Single-row INSERTs sent together, in one implicit
				// transaction.
				return func(w int, i int64) error {
					batch := &pgx.Batch{}
					stream := fmt.Sprint(prefix, i)
					if variant == raw {
						batch.Queue(rawStreamInsertSQL, stream, int64(100))
					}
					for p := range int64(100) {
						rawInsert(batch, stream, p+1)
					}
					return env.pool.SendBatch(ctx, batch).Close()
				}
			})
		})
	}
}

// The prepared baseline: one statement writing the stream row and the event
// row, prepared once per connection and executed with the extended protocol
// (pgx's default QueryExecModeCacheStatement, as pgbench -M prepared), with
// no check of any kind and nothing returned.
const (
	rawPreparedNewSQL = `WITH st AS (
    INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
    VALUES ($1, 1, 'emt:default', 's', '{}', FALSE)
)
INSERT INTO emt_messages (stream_id, stream_position, partition, message_data, message_metadata,
    message_schema_version, message_type, message_kind, message_id, transaction_id)
VALUES ($1, 1, 'emt:default', $2, '{}', '1', $3, 'E', $4, pg_current_xact_id())`
	rawPreparedExistingSQL = `WITH st AS (
    UPDATE emt_streams SET stream_position = $2
    WHERE stream_id = $1 AND partition = 'emt:default' AND is_archived = FALSE
)
INSERT INTO emt_messages (stream_id, stream_position, partition, message_data, message_metadata,
    message_schema_version, message_type, message_kind, message_id, transaction_id)
VALUES ($1, $2, 'emt:default', $3, '{}', '1', $4, 'E', $5, pg_current_xact_id())`
)

// BenchmarkAppendPrepared compares 1-event appends at 8 writers with the
// raw single prepared statement above writing the same rows, with
// synchronous_commit on and off in each session of both pools (so that the
// client's and the server's CPU cost show when commits do not wait for the
// WAL flush). Each run does b.N appends of the store and b.N of the raw
// statement, alternately in rounds, and reports both throughputs, their
// ratio (store / raw), and the client process's CPU time (user and system,
// from getrusage) per append of each: the store's CPU is the library's
// cost on top of pgx's.
//
//	go test -run '^$' -bench AppendPrepared -benchtime 8s -count 3 ./eventstore/postgres/
func BenchmarkAppendPrepared(b *testing.B) {
	ctx := context.Background()
	const writers = 8
	var run atomic.Int64 // distinct stream names for every measurement
	one := []eventstore.EventData{{Type: "ProductItemAdded", Data: benchData}}
	for _, commit := range []string{"on", "off"} {
		b.Run("SynchronousCommit="+commit+"/NewStream", func(b *testing.B) {
			env := newBenchEnvWith(b, "&synchronous_commit="+commit)
			prefix := fmt.Sprintf("p%d-", run.Add(1))
			comparePrepared(b, env, writers,
				func(w int, i int64) error {
					_, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, "s", i), one)
					return err
				},
				func(w int, i int64) error {
					_, err := env.pool.Exec(ctx, rawPreparedNewSQL, fmt.Sprint(prefix, "r", i), benchData, "ProductItemAdded", uuid.NewString())
					return err
				})
		})
		b.Run("SynchronousCommit="+commit+"/ExistingStream/ExactVersion", func(b *testing.B) {
			env := newBenchEnvWith(b, "&synchronous_commit="+commit)
			prefix := fmt.Sprintf("p%d-", run.Add(1))
			// Each writer appends to a stream of its own, one for each
			// variant.
			storeVersions := make([]int64, writers)
			rawVersions := make([]int64, writers)
			for w := range writers {
				for _, v := range []struct {
					name     string
					versions []int64
				}{{"s", storeVersions}, {"r", rawVersions}} {
					res, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, v.name, w), one, eventstore.ExpectNoStream())
					require.NoError(b, err)
					v.versions[w] = res.NextExpectedVersion
				}
			}
			// Statistics on the streams, as autovacuum keeps them (a
			// table never analyzed let the planner look the stream row
			// up through 0007's index, by partition only, in some
			// sessions and not others, until migration 0008 replaced it).
			_, err := env.pool.Exec(ctx, "ANALYZE emt_streams")
			require.NoError(b, err)
			comparePrepared(b, env, writers,
				func(w int, i int64) error {
					res, err := env.store.AppendToStream(ctx, fmt.Sprint(prefix, "s", w), one, eventstore.ExpectVersion(storeVersions[w]))
					storeVersions[w] = res.NextExpectedVersion
					return err
				},
				func(w int, i int64) error {
					rawVersions[w]++
					_, err := env.pool.Exec(ctx, rawPreparedExistingSQL, fmt.Sprint(prefix, "r", w), rawVersions[w], benchData, "ProductItemAdded", uuid.NewString())
					return err
				})
		})
	}
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU tells the CPU time taken so far by the server processes of
// the sessions of an application, from /proc/<pid>/schedstat: the server
// must run on this machine (Linux), as pgtest's does. ok is false when
// that cannot be read.
type serverCPU struct {
	conn *pgx.Conn
}

func newServerCPU(b *testing.B, env benchEnv) *serverCPU {
	b.Helper()
	if _, err := os.Stat("/proc/self/schedstat"); err != nil {
		return nil
	}
	conn, err := pgx.Connect(context.Background(), env.db)
	require.NoError(b, err)
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &serverCPU{conn: conn}
}

// of gives the CPU time of the application's server processes by process
// id.
func (s *serverCPU) of(b *testing.B, application string) (map[int]time.Duration, bool) {
	if s == nil {
		return nil, false
	}
	rows, err := s.conn.Query(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", application)
	require.NoError(b, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(b, err)
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if err != nil {
			return nil, false // not on this machine, or gone
		}
		var ns int64
		if _, err := fmt.Sscan(string(raw), &ns); err != nil {
			return nil, false
		}
		out[int(pid)] = time.Duration(ns)
	}
	return out, true
}

// comparePrepared runs b.N operations of the store and b.N of raw on the
// given number of writers, in 20 rounds of each that alternate which goes
// first (store, raw, raw, store, ...), and reports the appends per second
// of each and their ratio (store / raw); the CPU time per append of the
// client process (this one: the store's or pgx's work, the driver's, the
// runtime's), and of the server processes of each variant's sessions when
// the server runs on this machine; and the ratio of their CPU time per
// append, client and server (raw / store), which moves less with the load
// of the machine than throughput does. Operation i of writer w: i counts
// on across the rounds of a variant.
func comparePrepared(b *testing.B, env benchEnv, writers int, storeOp, rawOp func(w int, i int64) error) {
	b.Helper()
	type variant struct {
		op               func(w int, i int64) error
		application      string
		next             int64
		wall, cpu, scpu  time.Duration
		serverCPUUnknown bool
	}
	st := &variant{op: storeOp, application: storeApplication}
	rw := &variant{op: rawOp, application: rawApplication}
	server := newServerCPU(b, env)
	rounds := int64(min(b.N, 20))
	per := (int64(b.N) + rounds - 1) / rounds
	timed := func(v *variant) {
		from, to := v.next, v.next+per
		v.next = to
		var next atomic.Int64
		next.Store(from)
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		before, ok := server.of(b, v.application)
		cpu := cpuTime(b)
		start := time.Now()
		for w := range writers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < to && failed.Load() == nil; i = next.Add(1) - 1 {
					if err := v.op(w, i); err != nil {
						failed.Store(&err)
						return
					}
				}
			})
		}
		wg.Wait()
		v.wall += time.Since(start)
		v.cpu += cpuTime(b) - cpu
		after, ok2 := server.of(b, v.application)
		if !ok || !ok2 {
			v.serverCPUUnknown = true
		}
		for pid, t := range after {
			v.scpu += t - before[pid]
		}
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
	}
	b.ResetTimer()
	for r := range rounds {
		if r%2 == 0 {
			timed(st)
			timed(rw)
		} else {
			timed(rw)
			timed(st)
		}
	}
	b.StopTimer()
	n := float64(per * rounds)
	perAppend := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / n }
	storeRate, rawRate := n/st.wall.Seconds(), n/rw.wall.Seconds()
	b.ReportMetric(storeRate, "store-appends/s")
	b.ReportMetric(rawRate, "raw-appends/s")
	b.ReportMetric(storeRate/rawRate, "ratio")
	b.ReportMetric(perAppend(st.cpu), "store-client-cpu-µs/append")
	b.ReportMetric(perAppend(rw.cpu), "raw-client-cpu-µs/append")
	if st.serverCPUUnknown || rw.serverCPUUnknown {
		return
	}
	b.ReportMetric(perAppend(st.scpu), "store-server-cpu-µs/append")
	b.ReportMetric(perAppend(rw.scpu), "raw-server-cpu-µs/append")
	b.ReportMetric(float64(rw.cpu+rw.scpu)/float64(st.cpu+st.scpu), "cpu-ratio")
}

// ProductItemAdded is the typed event the read benchmark decodes into.
type ProductItemAdded struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
}

type cartEvent interface{}

func BenchmarkReadStream(b *testing.B) {
	const total = 100_000
	ctx := context.Background()
	env := newBenchEnv(b)
	stream := "cart-large"
	batch := make([]eventstore.EventData, 1000)
	for i := range batch {
		batch[i] = eventstore.EventData{Type: "ProductItemAdded", Data: benchData, Metadata: emmett.Metadata{CorrelationID: "c-1"}}
	}
	for v := int64(0); v < total; v += int64(len(batch)) {
		_, err := env.store.AppendToStream(ctx, stream, batch, eventstore.ExpectVersion(v))
		require.NoError(b, err)
	}
	_, err := env.pool.Exec(ctx, "VACUUM ANALYZE emt_messages")
	require.NoError(b, err)
	registry := emmett.NewEvents[cartEvent](ProductItemAdded{})

	// The raw reads: one SELECT of the same rows, scanned, and decoded as
	// much as the variant says.
	rawRead := func(decodeData, decodeMetadata bool) error {
		rows, err := env.pool.Query(ctx, `SELECT stream_position, global_position, transaction_id, created, message_id, message_type, message_data, message_metadata
FROM emt_messages WHERE stream_id = $1 AND partition = 'emt:default' AND is_archived = FALSE ORDER BY stream_position`, stream)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var pos, global int64
			var tx uint64
			var created time.Time
			var id, typ string
			var data, metadata []byte
			if err := rows.Scan(&pos, &global, &tx, &created, &id, &typ, &data, &metadata); err != nil {
				return err
			}
			if decodeData {
				var ev ProductItemAdded
				if err := json.Unmarshal(data, &ev); err != nil {
					return err
				}
			}
			if decodeMetadata {
				var md emmett.Metadata
				if err := json.Unmarshal(metadata, &md); err != nil {
					return err
				}
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != total {
			return fmt.Errorf("read %d events", n)
		}
		return nil
	}
	storeRead := func() error {
		n := 0
		for e, err := range env.store.ReadStream(ctx, stream) {
			if err != nil {
				return err
			}
			if _, err := registry.Decode(e.Type, e.Data); err != nil {
				return err
			}
			n++
		}
		if n != total {
			return fmt.Errorf("read %d events", n)
		}
		return nil
	}
	// Raw decodes what the store returns: the typed event and its metadata
	// (with encoding/json); RawDataOnly decodes the event and skips the
	// metadata; RawNotDecoded only scans the rows.
	pair(b, 1, total, []string{raw, "RawDataOnly", "RawNotDecoded"}, func(variant string) func(int, int64) error {
		switch variant {
		case raw:
			return func(int, int64) error { return rawRead(true, true) }
		case "RawDataOnly":
			return func(int, int64) error { return rawRead(true, false) }
		case "RawNotDecoded":
			return func(int, int64) error { return rawRead(false, false) }
		}
		return func(int, int64) error { return storeRead() }
	})
}
