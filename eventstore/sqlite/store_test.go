package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// open opens a store on a new file database, closed when the test ends.
func open(t testing.TB, opts ...sqlite.Option) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s, path
}

func openMemory(t testing.TB, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), ":memory:", opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		storetest.Run(t, storetest.Config{
			New: func(t *testing.T) eventstore.Store { s, _ := open(t); return s },
		})
	})
	t.Run("FileSyncNormal", func(t *testing.T) {
		storetest.Run(t, storetest.Config{
			New: func(t *testing.T) eventstore.Store {
				s, _ := open(t, sqlite.WithSynchronous(sqlite.SyncNormal))
				return s
			},
			LargeStreamEvents: 10_000,
		})
	})
	t.Run("Memory", func(t *testing.T) {
		storetest.Run(t, storetest.Config{
			New:               func(t *testing.T) eventstore.Store { return openMemory(t) },
			LargeStreamEvents: 10_000,
		})
	})
	t.Run("SmallMaxEventBytes", func(t *testing.T) {
		storetest.Run(t, storetest.Config{
			New:               func(t *testing.T) eventstore.Store { return openMemory(t, sqlite.WithMaxEventBytes(4096)) },
			MaxEventBytes:     4096,
			LargeStreamEvents: 2_000,
		})
	})
	t.Run("UserDB", func(t *testing.T) {
		skipOnWasm(t)
		// Any database/sql SQLite driver: here modernc's, opened by the
		// caller with its own settings, one writer pool and one reader pool.
		storetest.Run(t, storetest.Config{
			New:               func(t *testing.T) eventstore.Store { return newOnUserDB(t) },
			LargeStreamEvents: 10_000,
		})
	})
	t.Run("UserDBSharedConnection", func(t *testing.T) {
		// An in-memory database in a one-connection pool, used for both:
		// reads share the writer's connection.
		storetest.Run(t, storetest.Config{
			New: func(t *testing.T) eventstore.Store {
				db, err := sql.Open(sqlite.DriverName, ":memory:")
				require.NoError(t, err)
				db.SetMaxOpenConns(1)
				t.Cleanup(func() { db.Close() })
				s, err := sqlite.New(context.Background(), db, db)
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return s
			},
			LargeStreamEvents: 10_000,
		})
	})
}

func newOnUserDB(t testing.TB) *sqlite.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.db")
	writer, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	require.NoError(t, err)
	readers, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { readers.Close(); writer.Close() })
	s, err := sqlite.New(context.Background(), writer, readers)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func eventsN(typ string, from, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{Type: typ, Data: fmt.Appendf(nil, `{"n":%d}`, from+i)}
	}
	return out
}

func readAll(t testing.TB, s eventstore.Store, stream string, opts ...eventstore.ReadOption) []emmett.RecordedEvent {
	t.Helper()
	var out []emmett.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), stream, opts...) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func TestUserDBIsLeftOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "user.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()

	s, err := sqlite.New(ctx, db, db)
	require.NoError(t, err)
	_, err = s.AppendToStream(ctx, "order-1", eventsN("Placed", 1, 2))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	_, err = s.AppendToStream(ctx, "order-1", eventsN("Placed", 3, 1))
	assert.ErrorIs(t, err, eventstore.ErrClosed)

	// The caller's database still works, and holds the events.
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM emt_messages WHERE stream_id = 'order-1'`).Scan(&n))
	assert.Equal(t, 2, n)
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]*sqlite.Store{"File": func() *sqlite.Store { s, _ := open(t); return s }(), "Memory": openMemory(t)} {
		t.Run(name, func(t *testing.T) {
			_, err := s.AppendToStream(ctx, "c-1", eventsN("E", 1, 1))
			require.NoError(t, err)
			require.NoError(t, s.Close())
			require.NoError(t, s.Close(), "Close is idempotent")
			_, err = s.AppendToStream(ctx, "c-1", eventsN("E", 1, 1))
			assert.ErrorIs(t, err, eventstore.ErrClosed)
			_, _, err = s.StreamVersion(ctx, "c-1")
			assert.ErrorIs(t, err, eventstore.ErrClosed)
			assert.ErrorIs(t, storetest.FirstError(s.ReadStream(ctx, "c-1")), eventstore.ErrClosed)
			assert.ErrorIs(t, storetest.FirstError(s.ReadAll(ctx, eventstore.Position{})), eventstore.ErrClosed)
		})
	}
}

// TestCancelledTransactionKeepsTheDatabase checks that a transaction whose
// context is cancelled leaves the database whole. database/sql rolls such
// a transaction back from another goroutine and discards the connection
// unless the driver can reset it: on an in-memory database (or a file on
// js/wasm and wasip1) that one connection is the database, and a new one
// would be empty.
func TestCancelledTransactionKeepsTheDatabase(t *testing.T) {
	t.Run("Memory", testCancelledTransactionKeepsTheDatabase)
}

func testCancelledTransactionKeepsTheDatabase(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open(sqlite.DriverName, ":memory:")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	_, err = db.ExecContext(ctx, `CREATE TABLE kept (n INTEGER)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO kept VALUES (1)`)
	require.NoError(t, err)

	cctx, cancel := context.WithCancel(ctx)
	tx, err := db.BeginTx(cctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO kept VALUES (2)`)
	require.NoError(t, err)
	cancel()
	// Wait until database/sql has rolled the transaction back.
	require.Eventually(t, func() bool {
		_, err := tx.ExecContext(ctx, `SELECT 1`)
		return err != nil
	}, 10*time.Second, time.Millisecond)

	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT sum(n) FROM kept`).Scan(&n), "the table is still there")
	assert.Equal(t, 1, n, "the cancelled transaction's row is rolled back, the one before kept")
}

// TestCancelledAppendKeepsTheDatabase checks that an append whose context
// is cancelled while it runs stores nothing, and that the store goes on.
func TestCancelledAppendKeepsTheDatabase(t *testing.T) {
	for _, mode := range []string{"File", "Memory"} {
		t.Run(mode, func(t *testing.T) {
			var cancel context.CancelFunc
			hook := func(ctx context.Context, tx *sql.Tx, _ string, res eventstore.AppendResult) error {
				if res.Events[0].StreamName != "cancelled-1" {
					return nil
				}
				cancel()
				_, err := tx.ExecContext(ctx, `SELECT 1`)
				return err
			}
			var s *sqlite.Store
			if mode == "File" {
				s, _ = open(t, sqlite.WithBeforeCommit(hook))
			} else {
				s = openMemory(t, sqlite.WithBeforeCommit(hook))
			}
			ctx := context.Background()
			_, err := s.AppendToStream(ctx, "kept-1", eventsN("E", 1, 2))
			require.NoError(t, err)

			cctx, c := context.WithCancel(ctx)
			cancel = c
			_, err = s.AppendToStream(cctx, "cancelled-1", eventsN("E", 1, 1))
			require.ErrorIs(t, err, context.Canceled, "the cancelled append fails")

			got := readAll(t, s, "kept-1")
			assert.Len(t, got, 2, "the events appended before are still there")
			assert.Empty(t, readAll(t, s, "cancelled-1"), "nothing of the cancelled append is stored")
			_, err = s.AppendToStream(ctx, "kept-1", eventsN("E", 3, 1), eventstore.ExpectVersion(2))
			require.NoError(t, err, "the store goes on appending")
		})
	}
}

func TestReopenKeepsEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	first, err := s.AppendToStream(ctx, "cart-1", eventsN("Added", 1, 3), eventstore.ExpectNoStream())
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	got := readAll(t, s, "cart-1")
	require.Len(t, got, 3)
	for i := range got {
		assert.Equal(t, first.Events[i], got[i], "read back exactly as the append returned it")
	}
	_, err = s.AppendToStream(ctx, "cart-1", eventsN("Added", 4, 1), eventstore.ExpectVersion(3))
	require.NoError(t, err)
}

func TestCreatedIsMicrosecondUTC(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
	s := openMemory(t, sqlite.WithClock(func() time.Time { return at }))
	res, err := s.AppendToStream(ctx, "t-1", eventsN("E", 1, 2))
	require.NoError(t, err)
	want := at.UTC().Truncate(time.Microsecond)
	for _, e := range res.Events {
		assert.Equal(t, want, e.Created)
		assert.Equal(t, time.UTC, e.Created.Location())
	}
	got := readAll(t, s, "t-1")
	assert.Equal(t, res.Events, got, "the append result and the read are identical, times included")
}

// TestStoredRows checks the rows an append writes, column by column: the
// layout other tools (and Emmett for Node) read.
func TestStoredRows(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	md := emmett.Metadata{CorrelationID: "c-1", Fields: map[string]any{"user": "u-1"}}
	_, err := s.AppendToStream(ctx, "shopping_cart-42", []eventstore.EventData{
		{Type: "ItemAdded", Data: []byte(`{"sku":"x","price":1.50}`), Metadata: md, MessageID: "11111111-1111-4111-8111-111111111111"},
		{Type: "Confirmed", Data: []byte(`{}`)},
	}, eventstore.InPartition("tenant-a"))
	require.NoError(t, err)

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var (
		streamPos                       int64
		partition, streamType, streamMD string
		archived                        int
	)
	require.NoError(t, db.QueryRow(`SELECT stream_position, partition, stream_type, stream_metadata, is_archived FROM emt_streams WHERE stream_id = 'shopping_cart-42'`).
		Scan(&streamPos, &partition, &streamType, &streamMD, &archived))
	assert.Equal(t, int64(2), streamPos)
	assert.Equal(t, "tenant-a", partition)
	assert.Equal(t, "shopping_cart", streamType)
	assert.Equal(t, "{}", streamMD)
	assert.Equal(t, 0, archived)

	rows, err := db.Query(`SELECT global_position, stream_position, partition, message_kind, message_schema_version, message_id, message_type,
		message_data, typeof(message_data), json_extract(message_data, '$.price'), message_metadata, created
		FROM emt_messages WHERE stream_id = 'shopping_cart-42' ORDER BY stream_position`)
	require.NoError(t, err)
	defer rows.Close()
	var i int64
	for rows.Next() {
		i++
		var (
			global, pos                                                int64
			part, kind, schema, id, typ, data, dataType, meta, created string
			price                                                      sql.NullFloat64
		)
		require.NoError(t, rows.Scan(&global, &pos, &part, &kind, &schema, &id, &typ, &data, &dataType, &price, &meta, &created))
		assert.Equal(t, i, pos)
		assert.Equal(t, "tenant-a", part)
		assert.Equal(t, "E", kind)
		assert.Equal(t, "1", schema)
		assert.Equal(t, "text", dataType, "JSON is stored as TEXT, so SQLite's JSON functions read it")
		assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$`, created)
		if i == 1 {
			assert.Equal(t, "11111111-1111-4111-8111-111111111111", id)
			assert.Equal(t, `{"sku":"x","price":1.50}`, data, "data is stored as given")
			assert.Equal(t, 1.5, price.Float64)
			assert.JSONEq(t, `{"correlationId":"c-1","user":"u-1"}`, meta)
		} else {
			assert.Len(t, id, 36)
			assert.Equal(t, "{}", meta)
		}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, int64(2), i)
}

// TestConcurrentReadersAndWriters reads streams and the global log while
// writers append, on a file database (WAL, reader pool): every read sees a
// consistent prefix.
func TestConcurrentReadersAndWriters(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, sqlite.WithSynchronous(sqlite.SyncNormal))
	const writers, appends, batch = 4, 50, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("w-%d", w)
			for i := range appends {
				_, err := s.AppendToStream(ctx, stream, eventsN("E", i*batch, batch), eventstore.ExpectVersion(int64(i*batch)))
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var last int64
				n := 0
				for e, err := range s.ReadAll(ctx, eventstore.Position{}) {
					if !assert.NoError(t, err) {
						return
					}
					assert.Equal(t, last+1, e.GlobalPosition, "no gap in the global log")
					last = e.GlobalPosition
					n++
				}
				assert.Zero(t, n%batch, "only whole appends are visible")
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for w := range writers {
		v, ok, err := s.StreamVersion(ctx, fmt.Sprintf("w-%d", w))
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, int64(appends*batch), v)
	}
}

func TestReadPagesOfLargeEvents(t *testing.T) {
	// Pages end early on bytes: 5 events of 1 MiB make several pages,
	// read back in order and whole.
	ctx := context.Background()
	s := openMemory(t, sqlite.WithMaxEventBytes(2<<20))
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	for i := range 5 {
		data := fmt.Appendf(nil, `{"i":%d,"s":"%s"}`, i, big)
		_, err := s.AppendToStream(ctx, "big-1", []eventstore.EventData{{Type: "Big", Data: data}})
		require.NoError(t, err)
	}
	got := readAll(t, s, "big-1")
	require.Len(t, got, 5)
	for i, e := range got {
		assert.Equal(t, int64(i+1), e.StreamPosition)
		assert.Len(t, e.Data, len(big)+len(fmt.Sprintf(`{"i":%d,"s":""}`, i)))
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"))
	assert.Error(t, err)
	_, err = sqlite.Open(ctx, ":memory:", sqlite.WithSynchronous("SOMETIMES"))
	assert.ErrorContains(t, err, "SOMETIMES")
	_, err = sqlite.New(ctx, nil, nil)
	assert.Error(t, err)
}

func TestOpenErrorsNameThePath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notADatabase := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notADatabase, []byte(strings.Repeat("not a database\n", 100)), 0o644))
	for name, path := range map[string]string{
		"MissingFolder": filepath.Join(dir, "nodir", "x.db"),
		"Folder":        dir,
		"NotADatabase":  notADatabase,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := sqlite.Open(ctx, path)
			if s != nil {
				_ = s.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.True(t, strings.HasPrefix(err.Error(), "sqlite: "+path+": "), err.Error())
		})
	}

	t.Run("SchemaTooNewStillMatches", func(t *testing.T) {
		path := filepath.Join(dir, "new.db")
		s, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		db, err := sql.Open(sqlite.DriverName, path)
		require.NoError(t, err)
		_, err = db.Exec(`INSERT INTO emt_migrations (version, description, applied_at) VALUES (1000000, 'from the future', '')`)
		require.NoError(t, db.Close())
		require.NoError(t, err)
		_, err = sqlite.Open(ctx, path)
		require.ErrorIs(t, err, sqlite.ErrSchemaTooNew)
		assert.Contains(t, err.Error(), path)
	})
}
