package postgres_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/internal/lookupbench"
)

// lookupTable is the collection's table, quoted.
const lookupTable = `"` + lookupbench.Collection + `"`

// BenchmarkDocumentLookup, run with
//
//	go test -run '^$' -bench DocumentLookup -benchtime 3s ./eventstore/postgres/
//
// is internal/lookupbench's scenario on PostgreSQL. The documents are
// written in one statement, then the table is vacuumed and analyzed, as
// autovacuum would: the vacuum empties the GIN index's pending list, which
// a lookup through that index otherwise reads whole (up to
// gin_pending_list_limit, 4 MB, of entries not yet merged: 12 ms a lookup
// here). Raw is pgx on a pool of its own. Without the declared index, both
// read the whole collection (data @>, which a collection's GIN index
// served before that index had to be declared: see docs/performance.md).
func BenchmarkDocumentLookup(b *testing.B) {
	lookupbench.Run(b, lookupbench.Config{Unindexed: true, Open: func(b *testing.B) lookupbench.Backend {
		env := newBenchEnv(b)
		return lookupbench.Backend{
			Documents: env.store.Documents(),
			Fill: func(ctx context.Context, n int) error {
				ids, data := make([]string, 0, n), make([]string, 0, n)
				for i := 1; i < n; i++ {
					ids, data = append(ids, lookupbench.ID(i)), append(data, string(lookupbench.Document(i)))
				}
				if _, err := env.pool.Exec(ctx, `INSERT INTO `+lookupTable+` (_id, data) SELECT id, data::jsonb FROM unnest($1::text[], $2::text[]) AS u(id, data)`, ids, data); err != nil {
					return err
				}
				_, err := env.pool.Exec(ctx, `VACUUM ANALYZE `+lookupTable)
				return err
			},
			// Raw's query is the leanest one the index serves: the field's
			// jsonb. Without it, raw writes the store's conditions (GIN
			// containment, then the field's equality): containment alone,
			// ordered by id and limited, makes the planner walk the primary
			// key and test every document (25 ms at 100,000 documents).
			Raw: func(indexed bool) lookupbench.Lookup {
				query := `SELECT _id, data FROM ` + lookupTable + ` WHERE (data -> '` + lookupbench.Path + `') = $1::jsonb ORDER BY _id LIMIT 1`
				if !indexed {
					query = `SELECT _id, data FROM ` + lookupTable + ` WHERE data @> $2::jsonb AND (data -> '` + lookupbench.Path + `') = $1::jsonb ORDER BY _id LIMIT 1`
				}
				return func(ctx context.Context, clientID string) (lookupbench.Cart, error) {
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
			},
		}
	}})
}
