package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/internal/lookupbench"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// BenchmarkDocumentLookup is internal/lookupbench's scenario on SQLite
// files: the documents written in one transaction of the store's; raw, a
// prepared SELECT on a pool of its own, set up as the store's readers.
// Without the index, both read every document, as SQLite's collections
// did before indexes.
//
//	go test -run '^$' -bench DocumentLookup -benchtime 3s ./eventstore/sqlite/
func BenchmarkDocumentLookup(b *testing.B) {
	lookupbench.Run(b, lookupbench.Config{Unindexed: true, Open: func(b *testing.B) lookupbench.Backend {
		path := benchPath(b)
		s, err := sqlite.Open(context.Background(), path)
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		readers, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
		require.NoError(b, err)
		b.Cleanup(func() { readers.Close() })
		return lookupbench.Backend{
			Documents: s.Documents(),
			Fill: func(ctx context.Context, n int) error {
				return s.Processors().Commit(ctx, "bench-setup", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
					for i := 1; i < n; i++ {
						if err := tx.Documents().Put(ctx, lookupbench.Collection, lookupbench.ID(i), lookupbench.Document(i)); err != nil {
							return err
						}
					}
					return nil
				})
			},
			Raw: func(bool) lookupbench.Lookup {
				// The same statement with the index or without.
				stmt, err := readers.Prepare(`SELECT _id, data FROM "` + lookupbench.Collection + `" WHERE json_extract(data, '$."` + lookupbench.Path + `"') = ? ORDER BY _id LIMIT 1`)
				require.NoError(b, err)
				b.Cleanup(func() { stmt.Close() })
				return func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
					var id string
					var data []byte
					var cart lookupbench.Cart
					if err := stmt.QueryRowContext(ctx, clientID).Scan(&id, &data); err != nil {
						return cart, err
					}
					return cart, json.Unmarshal(data, &cart)
				}
			},
		}
	}})
}
