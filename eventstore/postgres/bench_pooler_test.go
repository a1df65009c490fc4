package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/testing/pgtest"
	"github.com/stretchr/testify/require"
)

// Variants of BenchmarkPoolerAppend.
const (
	// direct is a store connected to the server directly, with pgx's
	// default named prepared statements.
	direct = "Direct"
	// directDescribe is a store connected directly, with the query exec
	// mode of WithPooler (QueryExecModeCacheDescribe): what the pooler
	// itself costs is the gap between it and the store through the
	// pooler.
	directDescribe = "DirectCacheDescribe"
)

// BenchmarkPoolerAppend measures appends of a store with WithPooler
// through a PgBouncer in transaction mode (the "Store" variant) against
// a store connected directly to the same server, in the same run; the
// ratio pair prints is the pooled store's throughput over the direct
// one's.
//
//	go test -run '^$' -bench PoolerAppend -benchtime 2000x ./eventstore/postgres/
func BenchmarkPoolerAppend(b *testing.B) {
	ctx := context.Background()
	var run atomic.Int64
	one := []eventstore.EventData{{Type: "ProductItemAdded", Data: benchData}}
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("NewStream/Writers=%d", writers), func(b *testing.B) {
			db := benchDatabase(b)
			srv := benchServer.srv
			if srv == nil {
				srv = pgtest.Default(b)
			}
			bouncer := pgtest.NewBouncer(b, srv, pgtest.BouncerOptions{PoolSize: 16})
			open := func(url string, opts ...postgres.Option) *postgres.Store {
				s, err := postgres.Open(ctx, url+"&pool_max_conns=16", opts...)
				require.NoError(b, err)
				b.Cleanup(func() { _ = s.Close() })
				return s
			}
			stores := map[string]*postgres.Store{
				store:          open(bouncer.Through(db), postgres.WithPooler()),
				direct:         open(db),
				directDescribe: open(db + "&default_query_exec_mode=cache_describe"),
			}
			pair(b, writers, 1, []string{direct, directDescribe}, func(variant string) func(int, int64) error {
				prefix := fmt.Sprintf("s%d-", run.Add(1))
				s := stores[variant]
				return func(w int, i int64) error {
					_, err := s.AppendToStream(ctx, fmt.Sprint(prefix, i), one)
					return err
				}
			})
		})
	}
}
