package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" driver: SQLite compiled to Go, no cgo
)

// ncrucesDriver is the name github.com/ncruces/go-sqlite3/driver registers.
const ncrucesDriver = "sqlite3"

// newOnNcruces returns a store (sqlite.New) on a file database opened with
// the second pure-Go driver, github.com/ncruces/go-sqlite3: the claim that
// New works with any database/sql SQLite driver, not only modernc's. The
// DSN sets what New asks of the caller (WAL, a busy timeout) and nothing
// else: the transaction mode is left to the driver's default.
func newOnNcruces(t testing.TB, opts ...sqlite.Option) (*sqlite.Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ncruces.db")
	writer, err := sql.Open(ncrucesDriver, "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	require.NoError(t, err)
	writer.SetMaxOpenConns(1)
	readers, err := sql.Open(ncrucesDriver, "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	require.NoError(t, err)
	t.Cleanup(func() { readers.Close(); writer.Close() })
	s, err := sqlite.New(context.Background(), writer, readers, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s, writer
}

func TestNcrucesDriverConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New:               func(t *testing.T) eventstore.Store { s, _ := newOnNcruces(t); return s },
		LargeStreamEvents: 2_000,
	})
}

func TestNcrucesDriverProjections(t *testing.T) {
	projectiontest.Run(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			s, _ := newOnNcruces(t, sqlite.WithProjections(inline...))
			return s
		},
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*sqlite.Store).Source(projection.PollBatchSize(100))
		},
		WokenSource: func(b projectiontest.Backend) projection.Source {
			return b.(*sqlite.Store).Source(projection.PollInterval(time.Hour))
		},
		Events:              300,
		ReservedCollections: reservedCollections,
		DropTable:           dropTable,
	})
}

// TestDeferredTransactionsOnOneFile runs several stores, each on pools of
// its own (as separate processes would), on one file database, with the
// drivers' DEFERRED transactions: modernc's default, and ncruces's when
// asked. Appends that read the stream's version first (ExpectAny,
// ExpectStreamExists), and processor commits whose projection reads a
// document before writing it, all wait for one another and succeed: no
// transaction reads before it holds the write lock, which SQLite would
// refuse to upgrade (SQLITE_BUSY at once, without the busy timeout).
func TestDeferredTransactionsOnOneFile(t *testing.T) {
	for _, driver := range []struct{ name, params string }{
		{"sqlite", ""},                       // modernc: DEFERRED unless _txlock says otherwise
		{ncrucesDriver, "&_txlock=deferred"}, // ncruces: IMMEDIATE by default
	} {
		t.Run(driver.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "shared.db")
			const stores, rounds = 3, 60
			var all []*sqlite.Store
			for range stores {
				db, err := sql.Open(driver.name, "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)"+driver.params)
				require.NoError(t, err)
				db.SetMaxOpenConns(1)
				t.Cleanup(func() { db.Close() })
				s, err := sqlite.New(ctx, db, nil)
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, s.Close()) })
				all = append(all, s)
			}
			// The counter is read and written by every store's commits.
			increment := func(ctx context.Context, tx projection.Tx) error {
				docs := tx.Documents()
				data, _, err := docs.Get(ctx, "counters", "c")
				if err != nil {
					return err
				}
				n, _ := strconv.Atoi(string(data))
				return docs.Put(ctx, "counters", "c", strconv.AppendInt(nil, int64(n+1), 10))
			}
			var wg sync.WaitGroup
			for i, s := range all {
				wg.Go(func() {
					var from eventstore.Position
					for r := range rounds {
						_, err := s.AppendToStream(ctx, "shared-1", eventsN("E", r, 1), eventstore.ExpectAny())
						if !assert.NoError(t, err, "store %d, append %d (any)", i, r) {
							return
						}
						_, err = s.AppendToStream(ctx, "shared-1", eventsN("E", r, 1), eventstore.ExpectStreamExists())
						if !assert.NoError(t, err, "store %d, append %d (stream exists)", i, r) {
							return
						}
						to := eventstore.Position{GlobalPosition: int64(r + 1)}
						if !assert.NoError(t, s.Processors().Commit(ctx, fmt.Sprint("p-", i), from, to, increment), "store %d, commit %d", i, r) {
							return
						}
						from = to
					}
				})
			}
			wg.Wait()
			v, _, err := all[0].StreamVersion(ctx, "shared-1")
			require.NoError(t, err)
			assert.Equal(t, int64(2*stores*rounds), v)
			data, ok, err := all[0].Documents().Get(ctx, "counters", "c")
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, strconv.Itoa(stores*rounds), string(data), "no increment lost")
		})
	}
}
