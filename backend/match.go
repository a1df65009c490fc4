package backend

import (
	"encoding/json"
	"fmt"

	"github.com/emmett-go/emmett/projection"
)

// Match reports whether the JSON document doc satisfies every condition of
// q. It is the reference semantics of queries: backends that cannot express
// a condition in their query language filter with it.
func Match(doc []byte, q projection.Query) (bool, error) {
	if err := q.Err(); err != nil {
		return false, err
	}
	if len(q.Conditions) == 0 {
		return true, nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return false, fmt.Errorf("backend: stored document is not JSON: %w", err)
	}
	for _, c := range q.Conditions {
		ok, err := matchCondition(v, c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func matchCondition(doc any, c projection.Condition) (bool, error) {
	var want any
	if err := json.Unmarshal(c.Value, &want); err != nil {
		return false, fmt.Errorf("backend: condition value is not JSON: %w", err)
	}
	switch c.Op {
	case projection.OpEq:
		got, ok := lookup(doc, c.Path)
		return ok && jsonEqual(got, want), nil
	case projection.OpContains:
		return JSONContains(doc, want), nil
	}
	return false, fmt.Errorf("backend: unknown condition op %d", c.Op)
}

func lookup(v any, path []string) (any, bool) {
	for _, key := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// jsonEqual compares decoded JSON values.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], bs[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// JSONContains reports whether the decoded JSON value container contains
// sub, as PostgreSQL's jsonb @> defines it: an object contains an object
// whose every key it has with a containing value; an array contains an
// array whose every element some element of it contains (and a top-level
// array contains a scalar it has as an element); scalars contain equal
// scalars.
func JSONContains(container, sub any) bool {
	return contains(container, sub, true)
}

func contains(container, sub any, top bool) bool {
	switch s := sub.(type) {
	case map[string]any:
		c, ok := container.(map[string]any)
		if !ok {
			return false
		}
		for k, sv := range s {
			cv, ok := c[k]
			if !ok || !contains(cv, sv, false) {
				return false
			}
		}
		return true
	case []any:
		c, ok := container.([]any)
		if !ok {
			return false
		}
		for _, sv := range s {
			found := false
			for _, cv := range c {
				if contains(cv, sv, false) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	default:
		if c, ok := container.([]any); ok && top {
			for _, cv := range c {
				if cv == sub {
					return true
				}
			}
			return false
		}
		return container == sub
	}
}
