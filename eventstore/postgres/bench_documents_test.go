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
// index, where both go through the collection's GIN index (data @>):
//
//	go test -run '^$' -bench DocumentLookup -benchtime 2s ./eventstore/postgres/
//
// The documents are written in one statement, and the table analyzed (as
// autovacuum would) before the lookups.
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
		_, err = env.pool.Exec(ctx, `ANALYZE "`+lookupbench.Collection+`"`)
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
		// jsonb, or else containment through the GIN index.
		query := `SELECT _id, data FROM "` + lookupbench.Collection + `" WHERE (data -> '` + lookupbench.Path + `') = $1::jsonb ORDER BY _id LIMIT 1`
		arg := func(clientID string) ([]byte, error) { return json.Marshal(clientID) }
		if !indexed {
			query = `SELECT _id, data FROM "` + lookupbench.Collection + `" WHERE data @> $1::jsonb ORDER BY _id LIMIT 1`
			arg = func(clientID string) ([]byte, error) {
				return json.Marshal(map[string]string{lookupbench.Path: clientID})
			}
		}
		raw = func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
			var cart lookupbench.Cart
			value, err := arg(clientID)
			if err != nil {
				return cart, err
			}
			var id string
			var doc []byte
			if err := env.pool.QueryRow(ctx, query, string(value)).Scan(&id, &doc); err != nil {
				return cart, err
			}
			return cart, json.Unmarshal(doc, &cart)
		}
		return store, raw
	}})
}
