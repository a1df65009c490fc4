// Package indextest holds what the SQL stores' tests of document indexes
// share: documents, and the queries that an index on one of their fields
// must serve.
package indextest

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Collection is the name of the tests' collection.
const Collection = "carts"

// Document is the JSON of the i-th document: a cart of one of a thousand
// clients, with a total (a whole number or a half), a nested field and a
// key with a quote in it.
func Document(i int) string {
	return fmt.Sprintf(`{"clientId":"client-%d","total":%g,"client":{"id":"c-%d","it's":"x%d"},"status":"Opened"}`,
		i%1000, float64(i)/2, i%1000, i)
}

// ID is the id of the i-th document.
func ID(i int) string { return fmt.Sprintf("cart-%05d", i) }

// Paths are the fields the tests index.
var Paths = []string{"clientId", "total", "client.id", "client.it's"}

// Case is a query that the index on the field at Path must serve.
type Case struct {
	Path  string
	Query projection.Query
}

// Cases are Eq on each indexed field (a string, a whole number, a half, a
// nested field, a key with a quote), alone and beside a condition on a
// field without an index, and Contains on an indexed field.
var Cases = []Case{
	{"clientId", query(projection.Eq("clientId", "client-7"))},
	{"clientId", query(projection.Eq("status", "Opened"), projection.Eq("clientId", "client-7"))},
	{"clientId", query(projection.Contains(map[string]any{"clientId": "client-7"}))},
	{"total", query(projection.Eq("total", 42))},
	{"total", query(projection.Eq("total", 42.5))},
	{"client.id", query(projection.Eq("client.id", "c-3"))},
	{"client.it's", query(projection.Eq("client.it's", "x12"))},
}

func query(conds ...projection.Condition) projection.Query {
	return projection.Query{Conditions: conds}
}

// RequireFindsWhatMatchFinds checks that docs finds, in the collection of
// the first n documents, as many as backend.Match selects, and some.
func RequireFindsWhatMatchFinds(ctx context.Context, t *testing.T, docs projection.DocumentStore, n int, c Case) {
	t.Helper()
	var want, got int
	for i := range n {
		ok, err := backend.Match([]byte(Document(i)), c.Query)
		require.NoError(t, err)
		if ok {
			want++
		}
	}
	for _, err := range docs.Find(ctx, Collection, c.Query) {
		require.NoError(t, err)
		got++
	}
	assert.Equal(t, want, got, "%s", c.Path)
	assert.NotZero(t, got, "%s", c.Path)
}
