package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The benchmarks time the store against raw database/sql doing the same
// writes and reads in the same run: the same schema (created by the store),
// the same rows, the same statements, the same transaction sizes, the same
// pragmas. Each reports raw-ns/event, store-ns/event and the store's
// throughput as a ratio of raw's (and logs the ratio):
//
//	go test -run '^$' -bench . -benchtime 3s ./eventstore/sqlite/
//
// The append benchmarks run on a file with synchronous=NORMAL, on a file
// with synchronous=FULL (the default, where each commit waits for the
// disk), and in memory (where only the CPU cost is left, so the store's own
// work weighs most).

const benchStreams = 100 // appends go round-robin to this many streams

// benchData is the payload of every benchmark event: a small event, as a
// command handler appends.
var benchData = []byte(`{"productId":"c0ffee-42","quantity":3,"unitPrice":12.5,"note":"a typical small event"}`)

func benchPath(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }

// rawDB opens a database/sql pool on path set up the way Open sets up its
// writer: WAL, the busy timeout, the synchronous mode, IMMEDIATE
// transactions, one connection.
func rawDB(b *testing.B, path string, sync sqlite.SyncMode) *sql.DB {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous("+string(sync)+")&_txlock=immediate")
	require.NoError(b, err)
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	return db
}

func rawInsertSQL(n int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO emt_messages (stream_id, stream_position, partition, message_id, message_type, message_data, message_metadata, created, message_kind, message_schema_version, is_archived) VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `(?1,?4+%d,?2,?,?,?,?,?3,'E','1',0)`, i+1)
	}
	return sb.String()
}

// rawAppender writes appends with plain database/sql: a transaction, an
// upsert of the stream row, multi-row INSERTs of at most 64 events with the
// store's statement (the append's shared values bound once), COMMIT. It
// keeps stream versions in Go and checks nothing.
type rawAppender struct {
	db       *sql.DB
	upsert   *sql.Stmt
	inserts  map[int]*sql.Stmt
	versions map[string]int64
	args     []any
}

func newRawAppender(b *testing.B, db *sql.DB) *rawAppender {
	upsert, err := db.Prepare(`INSERT INTO emt_streams (stream_id, stream_position, partition, stream_type, stream_metadata, is_archived)
VALUES (?, ?, ?, ?, '{}', 0)
ON CONFLICT (stream_id, partition, is_archived) DO UPDATE SET stream_position = excluded.stream_position`)
	require.NoError(b, err)
	return &rawAppender{db: db, upsert: upsert, inserts: map[int]*sql.Stmt{}, versions: map[string]int64{}}
}

func (r *rawAppender) append(ctx context.Context, stream string, events []eventstore.EventData) error {
	// Statements are prepared before the transaction takes the pool's
	// one connection.
	for _, k := range []int{min(64, len(events)), len(events) % 64} {
		if r.inserts[k] == nil && k > 0 {
			stmt, err := r.db.PrepareContext(ctx, rawInsertSQL(k))
			if err != nil {
				return err
			}
			r.inserts[k] = stmt
		}
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	start := r.versions[stream]
	n := int64(len(events))
	if _, err := tx.StmtContext(ctx, r.upsert).ExecContext(ctx, stream, start+n, eventstore.DefaultPartition, eventstore.StreamType(stream)); err != nil {
		return err
	}
	created := time.Now().UTC().Format("2006-01-02 15:04:05.000000")
	for off := 0; off < len(events); off += 64 {
		k := min(64, len(events)-off)
		stmt := r.inserts[k]
		args := append(r.args[:0], stream, eventstore.DefaultPartition, created, start+int64(off))
		for i := off; i < off+k; i++ {
			e := events[i]
			args = append(args, e.MessageID, e.Type, string(e.Data), "{}")
		}
		r.args = args
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	r.versions[stream] = start + n
	return nil
}

func benchEvents(n int, withIDs bool) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{Type: "ProductItemAdded", Data: benchData}
		if withIDs {
			out[i].MessageID = uuid.NewString()
		}
	}
	return out
}

func streamNames() []string {
	names := make([]string, benchStreams)
	for i := range names {
		names[i] = fmt.Sprintf("shopping_cart-%d", i)
	}
	return names
}

type result struct{ nsPerEvent float64 }

// printRatio logs the store's throughput as a ratio of raw's; the same
// figures are on the benchmark's line as metrics.
func printRatio(b *testing.B, raw, store result) {
	if raw.nsPerEvent == 0 || store.nsPerEvent == 0 {
		return
	}
	b.Logf("ratio %.2f (store throughput / raw throughput; raw %.0f ns/event, store %.0f ns/event)", raw.nsPerEvent/store.nsPerEvent, raw.nsPerEvent, store.nsPerEvent)
}

// appendTarget is where an append benchmark writes: a file database with
// the given synchronous mode, or an in-memory one (sync "memory", which
// leaves only the CPU cost).
type appendTarget string

func openTarget(b *testing.B, target appendTarget) (raw *sql.DB, store *sqlite.Store) {
	ctx := context.Background()
	if target == "memory" {
		db, err := sql.Open("sqlite", ":memory:")
		require.NoError(b, err)
		db.SetMaxOpenConns(1)
		b.Cleanup(func() { db.Close() })
		schema, err := sqlite.New(ctx, db, db) // the schema
		require.NoError(b, err)
		require.NoError(b, schema.Close())
		s, err := sqlite.Open(ctx, ":memory:")
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		return db, s
	}
	sync := sqlite.SyncMode(strings.ToUpper(string(target)))
	rawPath, storePath := benchPath(b), benchPath(b)
	schema, err := sqlite.Open(ctx, rawPath, sqlite.WithSynchronous(sync))
	require.NoError(b, err)
	require.NoError(b, schema.Close())
	s, err := sqlite.Open(ctx, storePath, sqlite.WithSynchronous(sync))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	return rawDB(b, rawPath, sync), s
}

// BenchmarkAppend compares AppendToStream with raw INSERTs of the same rows,
// for 1 and 100 events per transaction. Each iteration makes one raw append
// and one store append (in alternating order), each to a database of its
// own, and times them apart: both see the same machine load, which on a
// shared machine matters more than anything else for the ratio.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	for _, target := range []appendTarget{"normal", "full", "memory"} {
		for _, size := range []int{1, 100} {
			name := fmt.Sprintf("sync=%s/events=%d", target, size)
			b.Run(name, func(b *testing.B) {
				rawPool, s := openTarget(b, target)
				r := newRawAppender(b, rawPool)
				streams := streamNames()
				versions := make([]int64, benchStreams)
				rawEvents := benchEvents(size, true) // raw inserts rows with their ids ready
				events := benchEvents(size, false)   // the store makes the ids
				var rawTime, storeTime time.Duration
				i := 0
				for b.Loop() {
					k := i % benchStreams
					doRaw := func() {
						t0 := time.Now()
						for j := range rawEvents { // message ids are unique in a stream
							rawEvents[j].MessageID = uuid.NewString()
						}
						if err := r.append(ctx, streams[k], rawEvents); err != nil {
							b.Fatal(err)
						}
						rawTime += time.Since(t0)
					}
					doStore := func() {
						t0 := time.Now()
						res, err := s.AppendToStream(ctx, streams[k], events, eventstore.ExpectVersion(versions[k]))
						if err != nil {
							b.Fatal(err)
						}
						storeTime += time.Since(t0)
						versions[k] = res.NextExpectedVersion
					}
					if i%2 == 0 {
						doRaw()
						doStore()
					} else {
						doStore()
						doRaw()
					}
					i++
				}
				perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*size) }
				raw, store := perEvent(rawTime), perEvent(storeTime)
				b.ReportMetric(raw, "raw-ns/event")
				b.ReportMetric(store, "store-ns/event")
				b.ReportMetric(raw/store, "ratio")
				printRatio(b, result{raw}, result{store})
			})
		}
	}
}

// BenchmarkConcurrentAppend compares 8 writers appending one event at a
// time, each to streams of its own, through the store (which commits the
// appends that wait for the writer together: group commit) and raw (each
// writer's own transaction per append, on one connection, as the store's
// writer). Each iteration is a round of 50 appends per writer, raw then
// store or store then raw, timed apart.
func BenchmarkConcurrentAppend(b *testing.B) {
	ctx := context.Background()
	const writers, perRound = 8, 50
	for _, target := range []appendTarget{"normal", "full"} {
		b.Run("sync="+string(target), func(b *testing.B) {
			rawPool, s := openTarget(b, target)
			raws := make([]*rawAppender, writers)
			for w := range raws {
				raws[w] = newRawAppender(b, rawPool)
			}
			versions := make([][]int64, writers)
			for w := range versions {
				versions[w] = make([]int64, perRound)
			}
			events := benchEvents(1, false)
			stream := func(w, i int) string { return fmt.Sprintf("shopping_cart-%d-%d", w, i) }
			round := func(appendOne func(w, i int) error) time.Duration {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for w := range writers {
					wg.Go(func() {
						<-start
						for i := range perRound {
							if err := appendOne(w, i); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				t0 := time.Now()
				close(start)
				wg.Wait()
				return time.Since(t0)
			}
			doRaw := func(w, i int) error {
				evs := benchEvents(1, true)
				return raws[w].append(ctx, stream(w, i), evs)
			}
			doStore := func(w, i int) error {
				res, err := s.AppendToStream(ctx, stream(w, i), events, eventstore.ExpectVersion(versions[w][i]))
				if err == nil {
					versions[w][i] = res.NextExpectedVersion
				}
				return err
			}
			var rawTime, storeTime time.Duration
			n := 0
			for b.Loop() {
				if n%2 == 0 {
					rawTime += round(doRaw)
					storeTime += round(doStore)
				} else {
					storeTime += round(doStore)
					rawTime += round(doRaw)
				}
				n++
			}
			appends := float64(n * writers * perRound)
			raw, store := appends/rawTime.Seconds(), appends/storeTime.Seconds()
			b.ReportMetric(raw, "raw-appends/s")
			b.ReportMetric(store, "store-appends/s")
			b.ReportMetric(store/raw, "ratio")
		})
	}
}

// BenchmarkReadStream compares reading a 100,000-event stream with
// ReadStream to one raw SELECT scanning the same columns into Go values
// (ReadStream also parses the created time and builds the events, and
// reads in pages of 1,000). Raw and store reads alternate, as in
// BenchmarkAppend.
func BenchmarkReadStream(b *testing.B) {
	ctx := context.Background()
	const total = 100_000
	path := benchPath(b)
	s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SyncOff))
	require.NoError(b, err)
	defer s.Close()
	const stream = "shopping_cart-long"
	events := benchEvents(1000, false)
	for v := int64(0); v < total; v += 1000 {
		_, err := s.AppendToStream(ctx, stream, events, eventstore.ExpectVersion(v))
		require.NoError(b, err)
	}
	readers, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	require.NoError(b, err)
	defer readers.Close()

	stmt, err := readers.Prepare(`SELECT stream_position, global_position, message_id, message_type, message_data, message_metadata, created
FROM emt_messages WHERE stream_id = ? AND partition = ? AND is_archived = 0 ORDER BY stream_position`)
	require.NoError(b, err)
	defer stmt.Close()
	readRaw := func() {
		rows, err := stmt.QueryContext(ctx, stream, eventstore.DefaultPartition)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var (
			sp, gp      int64
			id, typ     string
			data        []byte
			md, created sql.RawBytes
		)
		for rows.Next() {
			if err := rows.Scan(&sp, &gp, &id, &typ, &data, &md, &created); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rows.Close(); err != nil || n != total {
			b.Fatal(err, n)
		}
	}
	readStore := func() {
		n := 0
		for _, err := range s.ReadStream(ctx, stream) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != total {
			b.Fatal(n)
		}
	}
	readRaw() // warm both: the page cache, the connections
	readStore()
	var rawTime, storeTime time.Duration
	i := 0
	for b.Loop() {
		first, second := readRaw, readStore
		firstTime, secondTime := &rawTime, &storeTime
		if i%2 == 1 {
			first, second, firstTime, secondTime = second, first, secondTime, firstTime
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		*firstTime += t1.Sub(t0)
		*secondTime += time.Since(t1)
		i++
	}
	raw := float64(rawTime.Nanoseconds()) / float64(b.N*total)
	store := float64(storeTime.Nanoseconds()) / float64(b.N*total)
	b.ReportMetric(raw, "raw-ns/event")
	b.ReportMetric(store, "store-ns/event")
	b.ReportMetric(raw/store, "ratio")
	printRatio(b, result{raw}, result{store})
}
