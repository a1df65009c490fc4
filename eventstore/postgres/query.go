package postgres

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/projection"
)

// maxQueryArgs bounds the arguments of a statement: a condition that would
// take more is checked in Go.
const maxQueryArgs = 10_000

// planQuery translates q's conditions into SQL on jsonb that gives exactly
// backend.Match's answers, in a form the GIN index on data
// (jsonb_path_ops, where projection.ContainsIndex declares it) serves
// wherever that is exact:
//
//   - Contains(sub) is data @> sub, PostgreSQL's own containment, when sub
//     holds no number. Match compares numbers as Go decodes them, as
//     float64, where @> compares them as exact decimals (9007199254740993
//     is not 9007199254740992 to PostgreSQL, and is to Go); so with numbers
//     in sub, data @> (sub without its numbers) narrows down through the
//     index and a condition written out in SQL checks the rest, numbers as
//     the range of decimals that round to the same float64.
//   - Eq(path, v) follows the path through objects only (data -> 'a' ->
//     'b', which is NULL where there is no such object field, as Match's
//     lookup), and compares with jsonb equality, plus data @> {"a":{"b":v}}
//     for the index (containment alone would let an array value match a
//     longer array). A number, or an object or array holding numbers, is
//     compared as Match does, float64 by float64, which the GIN index
//     cannot serve: such a condition is a scan of the collection unless
//     another condition of the query uses an index.
//   - A field of the document is written with its keys as literals
//     (fieldExpr), so that a btree index on the field (EnsureIndex,
//     createIndexSQL) serves Eq on it: the equality of jsonb values, and
//     for a number the range of jsonb numbers that round to it, which Eq
//     also writes.
//
// Every value is an argument of the statement, never SQL text.
func planQuery(q projection.Query) (docsql.Plan, error) {
	return docsql.PlanQuery(q, &sqlBuilder{alias: new(int)})
}

// SQL implements docsql.Builder.
func (b *sqlBuilder) SQL() (string, []any) { return b.sb.String(), b.args }

// Condition implements docsql.Builder: it writes the SQL of a condition,
// ANDed, and reports whether it is the whole condition. One too large for
// a sensible statement is checked in Go, after what the index can narrow
// down.
func (b *sqlBuilder) Condition(c projection.Condition, want any) (bool, error) {
	sub := b.sub()
	var ok bool
	if c.Op == projection.OpEq {
		if len(c.Path) == 0 {
			return false, fmt.Errorf("postgres: Eq with an empty path")
		}
		ok = sub.eq(c.Path, want)
	} else {
		ok = sub.containsCondition(want)
	}
	if !ok || len(sub.args)-len(b.args) > docsql.MaxConditionArgs || len(sub.args) > maxQueryArgs {
		sub, ok = b.sub(), false
		sub.prefilter(c, want)
	}
	b.merge(sub)
	return ok, nil
}

// sqlBuilder writes a WHERE fragment and its arguments. A sub-builder
// writes one condition, numbering its arguments after its parent's, and is
// merged in (or dropped) before the next one starts.
type sqlBuilder struct {
	sb    strings.Builder
	args  []any
	alias *int // jsonb_array_elements aliases taken, shared by sub-builders
}

func (b *sqlBuilder) sub() *sqlBuilder {
	return &sqlBuilder{args: slices.Clip(b.args), alias: b.alias}
}

// merge appends the condition sub wrote, if any, ANDed.
func (b *sqlBuilder) merge(sub *sqlBuilder) {
	if sub.sb.Len() == 0 {
		return
	}
	b.sb.WriteString(" AND (")
	b.sb.WriteString(sub.sb.String())
	b.sb.WriteString(")")
	b.args = sub.args
}

func (b *sqlBuilder) w(s string) { b.sb.WriteString(s) }

// arg adds an argument and writes its placeholder with a cast.
func (b *sqlBuilder) arg(v any, cast string) {
	b.args = append(b.args, v)
	b.sb.WriteString("$" + strconv.Itoa(len(b.args)) + "::" + cast)
}

func (b *sqlBuilder) newAlias() string {
	*b.alias++
	return "e" + strconv.Itoa(*b.alias)
}

// node is the SQL expression of a jsonb value in the document.
type node string

const root node = "d.data"

// child writes nothing; it returns the expression of the field key of n,
// NULL unless n is an object with that field. The key is a literal where
// it can be one (literalKey), so that the expression of a field of the
// document is the very one an index on it holds (see fieldExpr); an
// argument otherwise.
func (b *sqlBuilder) child(n node, key string) node {
	if literalKey(key) {
		return node(fieldExpr(string(n), []string{key}))
	}
	b.args = append(b.args, key)
	return node("(" + string(n) + " -> $" + strconv.Itoa(len(b.args)) + "::text)")
}

// fieldExpr is the SQL expression of the field at keys (each a literalKey)
// of the jsonb base: ((base -> 'a'::text) -> 'b'::text). Queries and
// indexes (createIndexSQL) write it alike.
func fieldExpr(base string, keys []string) string {
	for _, key := range keys {
		base = "(" + base + " -> '" + strings.ReplaceAll(key, "'", "''") + "'::text)"
	}
	return base
}

// literalKey reports whether a key can be written as a string literal:
// valid UTF-8 (as the statement's text must be), without NUL, nor '\'
// (which a server with standard_conforming_strings off would read as an
// escape). Every valid index path's keys are.
func literalKey(key string) bool {
	return utf8.ValidString(key) && !strings.ContainsAny(key, "\\\x00")
}

// index returns the expression of element i of n, NULL unless n is an
// array that long.
func (b *sqlBuilder) index(n node, i int) node {
	b.args = append(b.args, i)
	return node("(" + string(n) + " -> $" + strconv.Itoa(len(b.args)) + "::int)")
}

func (b *sqlBuilder) typeIs(n node, t string) {
	b.w("jsonb_typeof(" + string(n) + ") = '" + t + "'")
}

// jsonArg writes v as a jsonb argument.
func (b *sqlBuilder) jsonArg(v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		return false
	}
	b.arg(string(data), "jsonb")
	return true
}

// scalar writes the condition that the value at n equals v, a decoded JSON
// scalar, as Match compares them. It reports false for objects and arrays.
func (b *sqlBuilder) scalar(n node, v any) bool {
	switch v := v.(type) {
	case float64:
		// Match compares numbers as float64: a stored number matches when
		// it rounds to v, that is when it lies in v's rounding interval.
		lo, hi, closed := roundingInterval(v)
		b.w("numrange(")
		b.arg(lo, "numeric")
		b.w(", ")
		b.arg(hi, "numeric")
		if closed {
			b.w(", '[]')")
		} else {
			b.w(", '()')")
		}
		b.w(" @> (CASE WHEN jsonb_typeof(" + string(n) + ") = 'number' THEN (" + string(n) + ")::numeric END)")
	case string, bool, nil:
		b.w(string(n) + " = ")
		return b.jsonArg(v)
	default:
		return false
	}
	return true
}

// eq writes the condition of Eq(path, want). It reports false when the
// condition is too deep to write.
func (b *sqlBuilder) eq(path []string, want any) bool {
	n := root
	for _, key := range path {
		n = b.child(n, key)
	}
	switch v := want.(type) {
	case float64:
		// For an index on the field, the same interval as a range of
		// jsonb: jsonb orders numbers by value, and apart from every
		// other type.
		lo, hi, _ := roundingInterval(v)
		b.w(string(n) + " >= ")
		b.arg(lo, "jsonb")
		b.w(" AND " + string(n) + " <= ")
		b.arg(hi, "jsonb")
		b.w(" AND ")
		return b.scalar(n, want)
	}
	// {"a":{"b":want}}: a superset of the documents where a.b is want,
	// through the index.
	var contained any = want
	if hasNumber(want) {
		contained = withoutNumbers(want)
	}
	for i := len(path) - 1; i >= 0; i-- {
		contained = map[string]any{path[i]: contained}
	}
	if indexable(contained) {
		b.w(string(root) + " @> ")
		if !b.jsonArg(contained) {
			return false
		}
		b.w(" AND ")
	}
	if !hasNumber(want) {
		b.w(string(n) + " = ")
		return b.jsonArg(want)
	}
	return b.deepEq(n, want, 0)
}

// deepEq writes the condition that the value at n equals v as Match's
// jsonEqual has it: objects with the same keys and equal values, arrays of
// the same length with equal elements, numbers as float64.
func (b *sqlBuilder) deepEq(n node, v any, depth int) bool {
	if depth > docsql.MaxConditionDepth {
		return false
	}
	switch v := v.(type) {
	case map[string]any:
		keys := append([]string{}, slices.Sorted(maps.Keys(v))...) // never nil: pgx sends nil as NULL
		b.w("(")
		b.typeIs(n, "object")
		// No other key: deleting v's keys leaves an empty object.
		b.w(" AND (CASE WHEN jsonb_typeof(" + string(n) + ") = 'object' THEN (" + string(n) + " - ")
		b.arg(keys, "text[]")
		b.w(") = '{}'::jsonb END)")
		for _, k := range keys {
			b.w(" AND ")
			if !b.deepEq(b.child(n, k), v[k], depth+1) {
				return false
			}
		}
		b.w(")")
	case []any:
		b.w("(")
		b.typeIs(n, "array")
		b.w(" AND (CASE WHEN jsonb_typeof(" + string(n) + ") = 'array' THEN jsonb_array_length(" + string(n) + ") END) = ")
		b.arg(len(v), "int")
		for i, el := range v {
			b.w(" AND ")
			if !b.deepEq(b.index(n, i), el, depth+1) {
				return false
			}
		}
		b.w(")")
	default:
		b.w("(")
		if !b.scalar(n, v) {
			return false
		}
		b.w(")")
	}
	return true
}

// containsCondition writes the condition of Contains(sub).
func (b *sqlBuilder) containsCondition(sub any) bool {
	if !hasNumber(sub) {
		b.w(string(root) + " @> ")
		return b.jsonArg(sub)
	}
	if stripped := withoutNumbers(sub); indexable(stripped) {
		b.w(string(root) + " @> ")
		if !b.jsonArg(stripped) {
			return false
		}
		b.w(" AND ")
	}
	return docsql.Contains[node](dialect{b}, root, sub)
}

// dialect is the builder as docsql.Contains writes with it.
type dialect struct{ b *sqlBuilder }

func (d dialect) Write(sql string)                      { d.b.w(sql) }
func (d dialect) TypeIs(n node, t string)               { d.b.typeIs(n, t) }
func (d dialect) Child(n node, key string) (node, bool) { return d.b.child(n, key), true }
func (d dialect) Scalar(n node, v any) bool             { return d.b.scalar(n, v) }

// SomeElement writes the condition that an element of the array at n
// satisfies cond (false when n is not an array).
func (d dialect) SomeElement(n node, cond func(e node) bool) bool {
	alias := d.b.newAlias()
	d.b.w("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + string(n) + ") = 'array' THEN " + string(n) +
		" END) AS " + alias + "(v) WHERE ")
	if !cond(node(alias + ".v")) {
		return false
	}
	d.b.w(")")
	return true
}

// prefilter writes, for a condition checked in Go, the containment that
// narrows it down through the index, when there is one.
func (b *sqlBuilder) prefilter(c projection.Condition, want any) {
	var contained any
	switch c.Op {
	case projection.OpEq:
		if _, isNumber := want.(float64); isNumber {
			return
		}
		contained = withoutNumbers(want)
		for i := len(c.Path) - 1; i >= 0; i-- {
			contained = map[string]any{c.Path[i]: contained}
		}
	case projection.OpContains:
		contained = withoutNumbers(want)
	}
	if indexable(contained) {
		b.w(string(root) + " @> ")
		if !b.jsonArg(contained) {
			b.sb.Reset()
		}
	}
}

// hasNumber reports whether a decoded JSON value holds a number.
func hasNumber(v any) bool {
	switch v := v.(type) {
	case float64:
		return true
	case map[string]any:
		for _, x := range v {
			if hasNumber(x) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, hasNumber)
	}
	return false
}

// withoutNumbers returns v without its numbers (object fields and array
// elements that are numbers left out), for a containment that every
// document containing v contains, as Match compares numbers: a superset.
// A number alone gives nil.
func withoutNumbers(v any) any {
	switch v := v.(type) {
	case float64:
		return nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if _, isNumber := x.(float64); !isNumber {
				out[k] = withoutNumbers(x)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, x := range v {
			if _, isNumber := x.(float64); !isNumber {
				out = append(out, withoutNumbers(x))
			}
		}
		return out
	}
	return v
}

// indexable reports whether a containment narrows anything down through a
// jsonb_path_ops index: whether it has a scalar somewhere (the index keeps
// no entry for an empty object or array). nil is no containment at all.
func indexable(v any) bool { return v != nil && hasScalar(v) }

func hasScalar(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			if hasScalar(x) {
				return true
			}
		}
		return false
	case []any:
		return slices.ContainsFunc(v, hasScalar)
	}
	return true
}

// roundingInterval returns the decimals that Go's JSON decoder turns into
// v: the interval between the midpoints to v's neighbours, as exact decimal
// texts, closed when a tie rounds to v (its mantissa is even: IEEE 754's
// round half to even), open otherwise.
func roundingInterval(v float64) (lo, hi string, closed bool) {
	if v == 0 {
		v = 0 // -0 is 0 to ==
	}
	closed = math.Float64bits(v)&1 == 0
	exact := new(big.Rat).SetFloat64(v)
	bound := func(toward float64) string {
		var gap *big.Rat
		if next := math.Nextafter(v, toward); !math.IsInf(next, 0) {
			gap = new(big.Rat).Sub(new(big.Rat).SetFloat64(next), exact)
		} else {
			// v is the largest float64 of its sign: beyond it, the decoder
			// fails from half an ulp on, the ulp being the gap to the
			// float64 on its other side.
			gap = new(big.Rat).Sub(exact, new(big.Rat).SetFloat64(math.Nextafter(v, 0)))
		}
		return decimalText(gap.Add(exact, gap.Quo(gap, big.NewRat(2, 1))))
	}
	return bound(math.Inf(-1)), bound(math.Inf(1)), closed
}

// decimalText writes a rational whose denominator is a power of two as an
// exact decimal.
func decimalText(r *big.Rat) string {
	return r.FloatString(r.Denom().BitLen() - 1)
}
