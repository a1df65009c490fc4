// Package docsql holds what the SQL stores (SQLite, PostgreSQL) share in
// keeping projection documents in tables: the checks of collection names,
// the translation of queries that is the same in both dialects, and Find's
// keyset pagination with the conditions SQL leaves to backend.Match.
package docsql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/projection"
)

// ValidateCollection checks a collection name before a store uses it as a
// table name: projection.ValidateCollection, and none of the reserved
// prefixes (of the event store's and the database's own tables; db names
// the database in the error).
func ValidateCollection(name string, reserved []string, db string) error {
	if err := projection.ValidateCollection(name); err != nil {
		return err
	}
	for _, p := range reserved {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%w %q: the prefix %q is reserved for the event store's and %s's own tables", projection.ErrInvalidCollection, name, p, db)
		}
	}
	return nil
}

// IndexName is the name of the index on the field at path of a
// collection's documents: "<collection>:<path>", or, where that would pass
// 63 bytes (PostgreSQL's limit on names), that cut short and ended with '#'
// and a hash of the whole, so that two indexes never share a name. The ':'
// (or '#') keeps it apart from the names of collections, whose tables
// share the namespace of indexes. Quoted with '"', it is an identifier in
// both dialects: a valid index path has no '"'.
func IndexName(collection, path string) string {
	const maxLen = 63
	name := collection + ":" + path
	if len(name) <= maxLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:4])
	cut := maxLen - len(h) - 1
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "#" + h
}

// Plan is a query translated to SQL: Where (empty, or a run of " AND ...")
// and its Args select documents of a table aliased d, and InGo holds the
// conditions left to backend.Match, which the documents the SQL selects
// must also pass.
type Plan struct {
	Where string
	Args  []any
	InGo  projection.Query
}

// Bounds beyond which a condition is checked in Go rather than turned into
// an unwieldy statement.
const (
	MaxConditionArgs  = 500
	MaxConditionDepth = 32
)

// Builder writes the SQL of a query's conditions in a dialect.
type Builder interface {
	// Condition writes the SQL of condition c (want is its decoded JSON
	// value), ANDed to what it wrote before, and reports whether that SQL
	// is the whole condition (else it only narrows down, if anything).
	Condition(c projection.Condition, want any) (exact bool, err error)
	// SQL returns what was written: a WHERE fragment (empty, or starting
	// with " AND ") and its arguments.
	SQL() (where string, args []any)
}

// PlanQuery checks q and plans its conditions with b: the conditions b
// cannot write whole go to the plan's InGo as well.
func PlanQuery(q projection.Query, b Builder) (Plan, error) {
	if err := q.Err(); err != nil {
		return Plan{}, err
	}
	var plan Plan
	for _, c := range q.Conditions {
		if c.Op != projection.OpEq && c.Op != projection.OpContains {
			return Plan{}, fmt.Errorf("projection: unknown condition op %d", c.Op)
		}
		var want any
		if err := json.Unmarshal(c.Value, &want); err != nil {
			return Plan{}, fmt.Errorf("projection: condition value is not JSON: %w", err)
		}
		exact, err := b.Condition(c, want)
		if err != nil {
			return Plan{}, err
		}
		if !exact {
			plan.InGo.Conditions = append(plan.InGo.Conditions, c)
		}
	}
	plan.Where, plan.Args = b.SQL()
	return plan, nil
}

// Dialect writes the SQL of conditions on JSON values: N is its expression
// of a place in the document.
type Dialect[N any] interface {
	// Write writes SQL text.
	Write(sql string)
	// TypeIs writes the condition that the value at n is of the JSON type
	// ("object", "array").
	TypeIs(n N, jsonType string)
	// Child returns the place of the field key of n (nothing where n is
	// not an object with that field); false when the dialect cannot name
	// it.
	Child(n N, key string) (N, bool)
	// SomeElement writes the condition that an element of the array at n
	// satisfies cond (false where n is not an array); it reports false
	// when cond does.
	SomeElement(n N, cond func(e N) bool) bool
	// Scalar writes the condition that the value at n equals v, a decoded
	// JSON scalar, as backend.Match compares them; it reports false
	// when it cannot.
	Scalar(n N, v any) bool
}

// Contains writes the condition that the document at root contains sub (a
// decoded JSON value), as backend.JSONContains defines it. It reports
// false, leaving a partial condition to discard, when the dialect cannot
// express it or sub is deeper than MaxConditionDepth.
func Contains[N any](d Dialect[N], root N, sub any) bool {
	return contains(d, root, sub, true, 0)
}

func contains[N any](d Dialect[N], n N, sub any, top bool, depth int) bool {
	if depth > MaxConditionDepth {
		return false
	}
	switch s := sub.(type) {
	case map[string]any:
		d.Write("(")
		d.TypeIs(n, "object")
		for _, k := range slices.Sorted(maps.Keys(s)) {
			child, ok := d.Child(n, k)
			if !ok {
				return false
			}
			d.Write(" AND ")
			if !contains(d, child, s[k], false, depth+1) {
				return false
			}
		}
		d.Write(")")
	case []any:
		d.Write("(")
		d.TypeIs(n, "array")
		for _, el := range s {
			d.Write(" AND ")
			if !d.SomeElement(n, func(e N) bool { return contains(d, e, el, false, depth+1) }) {
				return false
			}
		}
		d.Write(")")
	default:
		d.Write("(")
		if !d.Scalar(n, sub) {
			return false
		}
		if top {
			// A document that is an array contains a scalar that is one
			// of its elements; any other contains a scalar it equals.
			d.Write(" OR (")
			d.TypeIs(n, "array")
			d.Write(" AND ")
			if !d.SomeElement(n, func(e N) bool { return d.Scalar(e, sub) }) {
				return false
			}
			d.Write(")")
		}
		d.Write(")")
	}
	return true
}

// PageSize is the most documents one query of Find reads.
const PageSize = 500

// FetchPage reads into page the documents of the collection that the SQL
// of a plan selects, in id order: at most limit, after the id after
// (from the first when first).
type FetchPage func(page []projection.Document, after string, first bool, limit int) ([]projection.Document, error)

// Find yields, in id order, the documents that fetch reads a page at a
// time (keyset pagination on the id) and that pass inGo, up to limit (0:
// no bound). It yields ctx's error once ctx ends, and the error of a
// document Match cannot read, naming the backend and the collection; it
// returns fetch's error as it is, for the caller to tell a missing table.
func Find(ctx context.Context, backendName, collection string, limit int, inGo projection.Query, fetch FetchPage, yield func(projection.Document, error) bool) error {
	filtered := len(inGo.Conditions) > 0
	remaining := limit // 0: no bound
	var after string
	first := true
	page := make([]projection.Document, 0, 64)
	for {
		if err := ctx.Err(); err != nil {
			yield(projection.Document{}, err)
			return nil
		}
		n := PageSize
		if !filtered && remaining > 0 {
			n = min(n, remaining)
		}
		var err error
		if page, err = fetch(page[:0], after, first, n); err != nil {
			return err
		}
		for _, doc := range page {
			if filtered {
				ok, err := backend.Match(doc.Data, inGo)
				if err != nil {
					yield(projection.Document{}, fmt.Errorf("%s: document %q of %s: %w", backendName, doc.ID, collection, err))
					return nil
				}
				if !ok {
					continue
				}
			}
			if !yield(doc, nil) {
				return nil
			}
			if remaining > 0 {
				if remaining--; remaining == 0 {
					return nil
				}
			}
		}
		if len(page) < n {
			return nil
		}
		after, first = page[len(page)-1].ID, false
	}
}

// Rows are the rows of a query, of either driver (*sql.Rows, pgx.Rows).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanPage appends to page the documents of rows that select _id and
// data. The caller closes rows.
func ScanPage(rows Rows, page []projection.Document) ([]projection.Document, error) {
	for rows.Next() {
		var doc projection.Document
		if err := rows.Scan(&doc.ID, &doc.Data); err != nil {
			return page, err
		}
		page = append(page, doc)
	}
	return page, rows.Err()
}

// Count counts the documents find yields, up to the first error it yields
// (which it returns); an error find returns comes first.
func Count(find func(yield func(projection.Document, error) bool) error) (int64, error) {
	var n int64
	var yielded error
	if err := find(func(_ projection.Document, err error) bool {
		if err != nil {
			yielded = err
			return false
		}
		n++
		return true
	}); err != nil {
		return 0, err
	}
	if yielded != nil {
		return 0, yielded
	}
	return n, nil
}
