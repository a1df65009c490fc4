package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/internal/lookupbench"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// BenchmarkDocumentLookup times finding a document by an indexed field in
// collections of 1,000 to 100,000 documents, against raw pgx selecting the
// same document through the same index in the same run (the scenario is
// internal/lookupbench's); index=none is the same without the declared
// index, where both go through the collection's GIN index (data @>), as
// the store did before indexes:
//
//	go test -run '^$' -bench DocumentLookup -benchtime 2s ./eventstore/postgres/
//
// The documents are written in one statement, then the table is vacuumed
// and analyzed, as autovacuum would: the vacuum empties the GIN index's
// pending list, which a lookup through that index otherwise reads whole
// (up to gin_pending_list_limit, 4 MB, of entries not yet merged: 12 ms
// a lookup here).
func BenchmarkDocumentLookup(b *testing.B) {
	lookupbench.Run(b, lookupbench.Config{Unindexed: true, Setup: func(b *testing.B, n int, indexed bool) (store, raw lookupbench.Lookup) {
		ctx := context.Background()
		env := newBenchEnv(b)
		docs := env.store.Documents()
		require.NoError(b, docs.Put(ctx, lookupbench.Collection, lookupbench.ID(0), lookupbench.Document(0))) // creates the collection
		if indexed {
			require.NoError(b, docs.EnsureIndex(ctx, lookupbench.Collection, lookupbench.Path))
		}
		ids, data := make([]string, 0, n), make([]string, 0, n)
		for i := 1; i < n; i++ {
			ids, data = append(ids, lookupbench.ID(i)), append(data, string(lookupbench.Document(i)))
		}
		_, err := env.pool.Exec(ctx, `INSERT INTO "`+lookupbench.Collection+`" (_id, data) SELECT id, data::jsonb FROM unnest($1::text[], $2::text[]) AS u(id, data)`, ids, data)
		require.NoError(b, err)
		_, err = env.pool.Exec(ctx, `VACUUM ANALYZE "`+lookupbench.Collection+`"`)
		require.NoError(b, err)

		carts := projection.NewCollection[lookupbench.Cart](docs, lookupbench.Collection)
		store = func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
			cart, found, err := carts.FindOne(ctx, projection.Eq(lookupbench.Path, clientID))
			if err == nil && !found {
				err = fmt.Errorf("no cart of %s", clientID)
			}
			return cart, err
		}
		// Raw's query is the leanest one the index serves: the field's
		// jsonb. Without it, raw writes the store's conditions (GIN
		// containment, then the field's equality): containment alone,
		// ordered by id and limited, makes the planner walk the primary
		// key and test every document (25 ms at 100,000 documents).
		query := `SELECT _id, data FROM "` + lookupbench.Collection + `" WHERE (data -> '` + lookupbench.Path + `') = $1::jsonb ORDER BY _id LIMIT 1`
		if !indexed {
			query = `SELECT _id, data FROM "` + lookupbench.Collection + `" WHERE data @> $2::jsonb AND (data -> '` + lookupbench.Path + `') = $1::jsonb ORDER BY _id LIMIT 1`
		}
		raw = func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
			var cart lookupbench.Cart
			value, err := json.Marshal(clientID)
			if err != nil {
				return cart, err
			}
			args := []any{string(value)}
			if !indexed {
				args = append(args, `{"`+lookupbench.Path+`":`+string(value)+`}`)
			}
			var id string
			var doc []byte
			if err := env.pool.QueryRow(ctx, query, args...).Scan(&id, &doc); err != nil {
				return cart, err
			}
			return cart, json.Unmarshal(doc, &cart)
		}
		return store, raw
	}})
}
