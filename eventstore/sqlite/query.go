package sqlite

import (
	"math"
	"strconv"
	"strings"

	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/projection"
)

// planQuery translates q's conditions into SQL over SQLite's JSON
// functions. The SQL gives exactly backend.Match's answers:
//
//   - Eq compares the value at the path with its JSON type: a string with
//     json_type 'text' and json_extract equal to it, a number with type
//     'integer' or 'real' and a value equal as a double (as Go decodes
//     both), true, false and null by their type alone. A path goes
//     through objects only, as Match's does. The path is a literal
//     (rootPath), so that an index on the field (createIndexSQL) serves
//     the equality of a string, and the range between a number's
//     neighbouring doubles that the number's condition also writes.
//   - Contains follows PostgreSQL's @>: an object contains an object whose
//     every key it has with a containing value; an array contains an array
//     whose every element one of its elements contains (json_each); a
//     document that is an array contains a scalar that is one of its
//     elements; scalars contain equal scalars.
//
// Eq with an object or an array is narrowed to documents with an object or
// an array at the path, and compared in Go; so is any condition on a key
// with a '"' or a '\' (which SQLite's JSON paths cannot quote), or one too
// large for a sensible statement.
func planQuery(q projection.Query) (docsql.Plan, error) {
	return docsql.PlanQuery(q, &sqlBuilder{})
}

// SQL implements docsql.Builder.
func (b *sqlBuilder) SQL() (string, []any) { return b.sb.String(), b.args }

// Condition implements docsql.Builder: it writes the SQL of a condition,
// ANDed, and reports whether it is the whole condition. A partial
// Contains, or a condition too large for a sensible statement, is checked
// all in Go.
func (b *sqlBuilder) Condition(c projection.Condition, want any) (bool, error) {
	sub := b.sub()
	var exact bool
	if c.Op == projection.OpEq {
		exact = sub.eq(c.Path, want)
	} else if exact = docsql.Contains[jnode](dialect{sub}, jnode{}, want); !exact {
		sub = b.sub()
	}
	if len(sub.args) > docsql.MaxConditionArgs {
		sub, exact = b.sub(), false
	}
	b.merge(sub)
	return exact, nil
}

// sqlBuilder writes a WHERE fragment and its arguments, in order.
type sqlBuilder struct {
	sb    strings.Builder
	args  []any
	alias *int // json_each aliases taken, shared by sub-builders
}

// sub returns a builder for one condition, merged in only if wanted.
func (b *sqlBuilder) sub() *sqlBuilder {
	if b.alias == nil {
		b.alias = new(int)
	}
	return &sqlBuilder{alias: b.alias}
}

// merge appends the condition sub built, if any, ANDed.
func (b *sqlBuilder) merge(sub *sqlBuilder) {
	if sub.sb.Len() == 0 {
		return
	}
	b.sb.WriteString(" AND ")
	b.sb.WriteString(sub.sb.String())
	b.args = append(b.args, sub.args...)
}

func (b *sqlBuilder) w(s string) { b.sb.WriteString(s) }
func (b *sqlBuilder) arg(v any)  { b.sb.WriteByte('?'); b.args = append(b.args, v) }
func (b *sqlBuilder) newAlias() string {
	*b.alias++
	return "e" + strconv.Itoa(*b.alias)
}

// jnode is a place in the document: under the root (alias "") or under an
// element of a json_each (alias), at a path suffix of quoted keys.
type jnode struct {
	alias  string
	suffix string
}

func (n jnode) child(key string) jnode { return jnode{n.alias, n.suffix + `."` + key + `"`} }

// pathable reports whether a key can be written in a JSON path: SQLite
// reads a quoted key up to the next '"', and treats '\' as an escape; a
// NUL would end the statement's text.
func pathable(key string) bool {
	return key != "" && !strings.ContainsAny(key, "\"\\\x00")
}

// rootPath is the SQL text of the JSON path of a field of the document
// ('$."a"."b"'), as queries write it and as an index on the field holds it
// (see createIndexSQL): the same text, for SQLite's planner to match the
// two. Its keys are pathable.
func rootPath(keys []string) string {
	n := jnode{}
	for _, key := range keys {
		n = n.child(key)
	}
	return sqlString("$" + n.suffix)
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// path writes the SQL expression of n's JSON path. A field of the document
// is a literal (rootPath), not an argument: an index on the field can
// serve the query only if the query has its very expression.
func (b *sqlBuilder) path(n jnode) {
	switch {
	case n.alias == "":
		b.w(sqlString("$" + n.suffix))
	case n.suffix == "":
		b.w(n.alias + ".fullkey")
	default:
		b.w("(" + n.alias + ".fullkey || ")
		b.arg(n.suffix)
		b.w(")")
	}
}

// typ writes the SQL expression of the JSON type at n ('object', 'array',
// 'text', 'integer', 'real', 'true', 'false', 'null'; NULL if missing).
func (b *sqlBuilder) typ(n jnode) { b.at(n, "json_type", "type") }

// value writes the SQL expression of the value at n, as json_extract gives
// it (a string unescaped, a number as INTEGER or REAL).
func (b *sqlBuilder) value(n jnode) { b.at(n, "json_extract", "value") }

// at writes fn(d.data, <n's path>), or, for an element of a json_each
// itself, that row's column.
func (b *sqlBuilder) at(n jnode, fn, column string) {
	if n.alias != "" && n.suffix == "" {
		b.w(n.alias + "." + column)
		return
	}
	b.w(fn + "(d.data, ")
	b.path(n)
	b.w(")")
}

func (b *sqlBuilder) typeIs(n jnode, t string) {
	b.typ(n)
	b.w(" = '" + t + "'")
}

// scalar writes the condition that the value at n equals v, a decoded JSON
// scalar. It reports false for objects and arrays.
func (b *sqlBuilder) scalar(n jnode, v any) bool {
	switch v := v.(type) {
	case string:
		b.w("(")
		b.typeIs(n, "text")
		b.w(" AND ")
		b.value(n)
		b.w(" = ")
		b.arg(v)
		b.w(")")
	case float64:
		// Go decodes every JSON number to a float64, so Match compares
		// numbers as doubles: so does this, integers included.
		b.w("(")
		b.typ(n)
		b.w(" IN ('integer', 'real') AND ")
		if n.alias == "" {
			// For an index on the field: every number that rounds to v
			// lies between v's neighbours (SQLite compares an INTEGER
			// with a REAL exactly), and no string or null does.
			b.value(n)
			b.w(" BETWEEN ")
			b.arg(math.Nextafter(v, math.Inf(-1)))
			b.w(" AND ")
			b.arg(math.Nextafter(v, math.Inf(1)))
			b.w(" AND ")
		}
		b.w("CAST(")
		b.value(n)
		b.w(" AS REAL) = ")
		b.arg(v)
		b.w(")")
	case bool:
		b.typeIs(n, strconv.FormatBool(v))
	case nil:
		b.typeIs(n, "null")
	default:
		return false
	}
	return true
}

// eq writes the condition of Eq(path, want). It reports whether the SQL is
// the whole condition; when it is not, what it wrote only narrows down.
func (b *sqlBuilder) eq(path []string, want any) bool {
	n := jnode{}
	for _, key := range path {
		if !pathable(key) {
			return false
		}
		n = n.child(key)
	}
	switch want.(type) {
	case map[string]any:
		b.typeIs(n, "object")
		return false
	case []any:
		b.typeIs(n, "array")
		return false
	}
	return b.scalar(n, want)
}

// dialect is the builder as docsql.Contains writes with it.
type dialect struct{ b *sqlBuilder }

func (d dialect) Write(sql string)           { d.b.w(sql) }
func (d dialect) TypeIs(n jnode, t string)   { d.b.typeIs(n, t) }
func (d dialect) Scalar(n jnode, v any) bool { return d.b.scalar(n, v) }

// Child returns the place of a field: false for a key that a JSON path
// cannot name.
func (d dialect) Child(n jnode, key string) (jnode, bool) { return n.child(key), pathable(key) }

// SomeElement writes the condition that an element of the array at n
// satisfies cond, through json_each.
func (d dialect) SomeElement(n jnode, cond func(e jnode) bool) bool {
	alias := d.b.newAlias()
	d.b.w("EXISTS (SELECT 1 FROM json_each(d.data, ")
	d.b.path(n)
	d.b.w(") AS " + alias + " WHERE ")
	if !cond(jnode{alias: alias}) {
		return false
	}
	d.b.w(")")
	return true
}
