package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/lookupbench"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// BenchmarkDocumentLookup times finding a document by an indexed field in
// collections of 1,000 to 100,000 documents, against a raw database/sql
// SELECT of the same document through the same index in the same run (the
// scenario is internal/lookupbench's); index=none is the same without the
// index, as SQLite's collections were before indexes:
//
//	go test -run '^$' -bench DocumentLookup -benchtime 2s ./eventstore/sqlite/
//
// The documents are written in one transaction of the store's; raw reads
// with a pool of its own, set up as the store's readers.
func BenchmarkDocumentLookup(b *testing.B) {
	lookupbench.Run(b, lookupbench.Config{Unindexed: true, Setup: func(b *testing.B, n int, indexed bool) (store, raw lookupbench.Lookup) {
		ctx := context.Background()
		path := benchPath(b)
		s, err := sqlite.Open(ctx, path)
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		if indexed {
			require.NoError(b, s.Documents().EnsureIndex(ctx, lookupbench.Collection, lookupbench.Path))
		}
		require.NoError(b, s.Processors().Commit(ctx, "bench-setup", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			for i := range n {
				if err := tx.Documents().Put(ctx, lookupbench.Collection, lookupbench.ID(i), lookupbench.Document(i)); err != nil {
					return err
				}
			}
			return nil
		}))
		carts := projection.NewCollection[lookupbench.Cart](s.Documents(), lookupbench.Collection)
		store = func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
			cart, found, err := carts.FindOne(ctx, projection.Eq(lookupbench.Path, clientID))
			if err == nil && !found {
				err = fmt.Errorf("no cart of %s", clientID)
			}
			return cart, err
		}

		readers, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
		require.NoError(b, err)
		b.Cleanup(func() { readers.Close() })
		stmt, err := readers.Prepare(`SELECT _id, data FROM "` + lookupbench.Collection + `" WHERE json_extract(data, '$."` + lookupbench.Path + `"') = ? ORDER BY _id LIMIT 1`)
		require.NoError(b, err)
		b.Cleanup(func() { stmt.Close() })
		raw = func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
			var id string
			var data []byte
			var cart lookupbench.Cart
			if err := stmt.QueryRowContext(ctx, clientID).Scan(&id, &data); err != nil {
				return cart, err
			}
			return cart, json.Unmarshal(data, &cart)
		}
		return store, raw
	}})
}
