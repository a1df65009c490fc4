package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emmett-go/emmett/console"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/require"
)

// The benchmark's store: benchEvents events in benchStreams streams of
// benchEvents/benchStreams events each, built with bulk inserts.
const (
	benchEvents  = 1_000_000
	benchStreams = 100_000
)

// bulkSQLite builds the benchmark's store in a file kept in the temporary
// directory between runs (building it takes a while): a store opened once
// for its schema, then one INSERT ... SELECT per table.
func bulkSQLite(b *testing.B) string {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("emmett-console-bench-%d.db", benchEvents))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	ctx := context.Background()
	tmp := path + ".building"
	_ = os.Remove(tmp)
	s, err := sqlite.Open(ctx, tmp)
	require.NoError(b, err)
	require.NoError(b, s.Close())
	db, err := sql.Open(sqlite.DriverName, tmp)
	require.NoError(b, err)
	defer db.Close()
	start := time.Now()
	per := benchEvents / benchStreams
	for _, q := range []string{
		`PRAGMA journal_mode = OFF`, `PRAGMA synchronous = OFF`,
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %d)
INSERT INTO emt_messages (stream_id, stream_position, message_id, message_type, message_data, message_metadata, created)
SELECT printf('shopping_cart-%%07d', i / %d), i %% %d + 1, printf('00000000-0000-4000-8000-%%012d', i), 'ProductItemAdded',
	printf('{"productId":"p%%d","quantity":%%d,"unitPrice":{"amount":25,"currency":"EUR"}}', i %% 97, i %% 5 + 1),
	printf('{"correlationId":"req-%%d"}', i / %d), strftime('%%Y-%%m-%%d %%H:%%M:%%f000', 'now')
FROM n`, benchEvents, per, per, per),
		`INSERT INTO emt_streams (stream_id, stream_position, stream_type)
SELECT stream_id, max(stream_position), 'shopping_cart' FROM emt_messages GROUP BY stream_id`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(b, err, q)
	}
	b.Logf("built a store of %d events in %d streams in %v", benchEvents, benchStreams, time.Since(start))
	require.NoError(b, db.Close())
	require.NoError(b, os.Rename(tmp, path))
	return path
}

// BenchmarkPages measures the console's pages on a store of a million
// events, on the server side (the handler, without a network), and
// reports each page's p95 in milliseconds. The stream list's first page
// and a page 90% deep into the list cost the same: keyset pagination.
func BenchmarkPages(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), bulkSQLite(b))
		require.NoError(b, err)
		defer s.Close()
		benchPages(b, s)
	})
	b.Run("PostgreSQL", func(b *testing.B) {
		s := bulkPostgres(b)
		defer s.Close()
		benchPages(b, s)
	})
}

// bulkPostgres builds the benchmark's store in a new database of the
// package's PostgreSQL server (testing/pgtest): a store opened for its
// schema, then one INSERT ... SELECT per table.
func bulkPostgres(b *testing.B) *postgres.Store {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(b))
	require.NoError(b, err)
	start := time.Now()
	per := benchEvents / benchStreams
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO emt_messages (stream_id, stream_position, transaction_id, message_schema_version, message_id, message_type,
	message_data, message_metadata)
SELECT format('shopping_cart-%%s', lpad((i / %d)::text, 7, '0')), i %% %d + 1, pg_current_xact_id(), '1',
	format('00000000-0000-4000-8000-%%s', lpad(i::text, 12, '0')), 'ProductItemAdded',
	jsonb_build_object('productId', 'p' || (i %% 97), 'quantity', i %% 5 + 1, 'unitPrice', '{"amount":25,"currency":"EUR"}'::jsonb),
	jsonb_build_object('correlationId', 'req-' || (i / %d))
FROM generate_series(0, %d) AS i ORDER BY i`, per, per, per, benchEvents-1),
		`INSERT INTO emt_streams (stream_id, stream_position, stream_type, stream_metadata)
SELECT stream_id, max(stream_position), 'shopping_cart', '{}' FROM emt_messages GROUP BY stream_id`,
		`VACUUM ANALYZE emt_messages`, `VACUUM ANALYZE emt_streams`,
	} {
		_, err := s.Pool().Exec(ctx, q)
		require.NoError(b, err, q)
	}
	b.Logf("built a store of %d events in %d streams in %v", benchEvents, benchStreams, time.Since(start))
	return s
}

// benchStore is what the benchmark needs of a store.
type benchStore interface {
	console.Store
	Close() error
}

func benchPages(b *testing.B, s benchStore) {
	ctx := context.Background()
	// Processors: one caught up, one half way, one that never ran (a lag
	// of the whole log), with parked events.
	procs := s.Processors()
	head, err := s.Head(ctx)
	require.NoError(b, err)
	for id, at := range map[string]int64{"caught_up": head.GlobalPosition, "half_way": head.GlobalPosition / 2} {
		if _, found, _ := procs.ReadCheckpoint(ctx, id); !found {
			to, err := s.ResolvePosition(ctx, eventstore.Position{GlobalPosition: at})
			require.NoError(b, err)
			require.NoError(b, procs.Commit(ctx, id, eventstore.Position{}, to, nil))
		}
	}
	if parked, _ := procs.Parked(ctx, projection.ParkedFilter{}); len(parked) == 0 {
		for i := range 20 {
			e := readOne(b, s, fmt.Sprintf("shopping_cart-%07d", i))
			cp, _, err := procs.ReadCheckpoint(ctx, "parking")
			require.NoError(b, err)
			require.NoError(b, procs.Commit(ctx, "parking", cp, eventstore.PositionOf(e), func(ctx context.Context, tx projection.Tx) error {
				return procs.Park(ctx, tx, projection.ParkedEvent{Processor: "parking", Event: e, Error: "boom", Attempts: 1, FirstFailure: time.Now(), LastFailure: time.Now()})
			}))
		}
	}

	h := console.New(s)
	deep := fmt.Sprintf("shopping_cart-%07d", benchStreams*9/10)
	for _, page := range []struct{ name, target string }{
		{"StreamsFirstPage", "/streams"},
		{"StreamsDeepPage", "/streams?after=" + deep},
		{"StreamsPrefix", "/streams?prefix=shopping_cart-00500"},
		{"Stream", "/stream?name=" + deep},
		{"Log", "/log"},
		{"LogOlder", fmt.Sprintf("/log?before=%d", head.GlobalPosition/2)},
		{"Processors", "/processors"},
		{"ProcessorsJSON", "/api/processors"},
		{"Projections", "/projections"},
		{"Parked", "/parked"},
		{"SearchCorrelation", fmt.Sprintf("/search?correlation=req-%d&near=%d", benchStreams/2, head.GlobalPosition/2)},
	} {
		b.Run(page.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, page.target, nil))
				times = append(times, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", page.target, w.Code, w.Body.String())
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// readOne returns the first event of stream.
func readOne(b *testing.B, s eventstore.Store, stream string) emmett.RecordedEvent {
	for e, err := range s.ReadStream(context.Background(), stream, eventstore.MaxCount(1)) {
		require.NoError(b, err)
		return e
	}
	b.Fatalf("no stream %s", stream)
	return emmett.RecordedEvent{}
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
