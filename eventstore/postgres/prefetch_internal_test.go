package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLockedReadsAreFewStatements checks the statements that read an
// append's documents: each id once, every id an argument, and few
// statement texts per collection whatever the number of ids (each text is
// prepared and planned on each connection).
func TestLockedReadsAreFewStatements(t *testing.T) {
	texts := map[string]bool{}
	for n := 1; n <= 100; n++ {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprint("doc-", i)
		}
		sql, args := getDocsForUpdateSQL("carts", n), docsArgs(ids)
		texts[sql] = true
		if n > maxListedIDs {
			assert.Contains(t, sql, "= ANY($1)")
			assert.Equal(t, []any{ids}, args)
			continue
		}
		assert.Equal(t, len(args), strings.Count(sql, "$"), "%d ids: a parameter per argument", n)
		listed := map[any]bool{}
		for _, a := range args {
			listed[a] = true
		}
		assert.Len(t, listed, n, "%d ids: each listed", n)
	}
	assert.Len(t, texts, 8, "1, 2, 4, ..., 64 ids, and an array")

	// Two projections reading one document read it once.
	reads := mergeReads([]prefetchRead{{"b", []string{"x", "y"}}, {"a", []string{"z"}}, {"b", []string{"y", "w"}}})
	assert.Equal(t, []prefetchRead{{"a", []string{"z"}}, {"b", []string{"w", "x", "y"}}}, reads)
}
