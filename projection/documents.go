package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emmett-go/emmett/internal/storable"
)

// ErrInvalidCollection is matched by the error for a collection name that is
// not a plain identifier.
var ErrInvalidCollection = errors.New("projection: invalid collection name")

var collectionName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidateCollection checks a collection name: lower-case letters, digits and
// underscores, not starting with a digit, at most 63 characters. Backends
// turn collections into tables, so the name must be a plain SQL identifier.
func ValidateCollection(name string) error {
	if !collectionName.MatchString(name) {
		return fmt.Errorf("%w %q: use lower-case letters, digits and '_' (at most 63), not starting with a digit", ErrInvalidCollection, name)
	}
	return nil
}

// Document is a stored JSON document.
type Document struct {
	// ID is the document's id, unique in its collection: the stream name
	// for a SingleStream projection, what the ids function returned for a
	// MultiStream one.
	ID string
	// Data is the document's JSON. Backends that store JSON in a parsed
	// form (PostgreSQL's jsonb) return it equal as JSON, not byte for byte.
	Data []byte
}

// Op is a kind of condition on documents.
type Op uint8

const (
	// OpEq matches documents whose value at Path equals Value.
	OpEq Op = iota + 1
	// OpContains matches documents that contain the JSON in Value, with the
	// semantics of PostgreSQL's jsonb @> operator.
	OpContains
)

// Condition is one condition of a query on documents. Build conditions with
// Eq and Contains.
type Condition struct {
	// Op is the kind of condition: OpEq or OpContains.
	Op Op
	// Path is the field path for OpEq ("status", or "client.id" as
	// ["client","id"]).
	Path []string
	// Value is the JSON encoding of the value (OpEq) or of the contained
	// document (OpContains).
	Value json.RawMessage
	err   error
}

// Err reports a condition that could not be built (a value that does not
// encode to JSON, an empty path) or that holds text no store can keep in a
// document (see ValidateDocument): a key of its path, or a string of its
// value, that is not valid UTF-8 or holds NUL. Such a condition could
// match no document; it matches ErrInvalidCondition.
func (c Condition) Err() error {
	if c.err != nil {
		return c.err
	}
	for _, key := range c.Path {
		if err := storable.Text(key); err != nil {
			return fmt.Errorf("%w: field path %q %w", ErrInvalidCondition, strings.Join(c.Path, "."), err)
		}
	}
	if json.Valid(c.Value) { // else the store says it is not JSON
		if err := storable.JSON(c.Value); err != nil {
			return fmt.Errorf("%w: value %w", ErrInvalidCondition, err)
		}
	}
	return nil
}

// ErrInvalidCondition is matched by the error of a condition that could
// not be built; a query with one fails before reading anything.
var ErrInvalidCondition = errors.New("projection: invalid condition")

// Eq matches documents whose field at path (dot-separated for nested
// fields) equals value, compared as JSON values. A string value that is
// not valid UTF-8 is refused (see Condition.Err), where encoding/json
// would have replaced its bad bytes with U+FFFD and matched another
// string.
func Eq(path string, value any) Condition {
	c := Condition{Op: OpEq, Path: strings.Split(path, ".")}
	if path == "" || strings.Contains(path, "..") || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") {
		c.err = fmt.Errorf("%w: invalid field path %q", ErrInvalidCondition, path)
		return c
	}
	if v := reflect.ValueOf(value); v.Kind() == reflect.String {
		if err := storable.Text(v.String()); err != nil {
			c.err = fmt.Errorf("%w: Eq %q: value %w", ErrInvalidCondition, path, err)
			return c
		}
	}
	if c.Value, c.err = json.Marshal(value); c.err != nil {
		c.err = fmt.Errorf("%w: Eq %q: %w", ErrInvalidCondition, path, c.err)
	}
	return c
}

// Contains matches documents that contain sub: every field of sub is in the
// document with an equal value, recursively, and every element of an array
// in sub is in the document's array (PostgreSQL's jsonb @>).
func Contains(sub any) Condition {
	c := Condition{Op: OpContains}
	if raw, ok := sub.(json.RawMessage); ok {
		c.Value = raw
	} else {
		c.Value, c.err = json.Marshal(sub)
	}
	switch {
	case c.err != nil:
		c.err = fmt.Errorf("%w: Contains: %w", ErrInvalidCondition, c.err)
	case !json.Valid(c.Value):
		c.err = fmt.Errorf("%w: Contains: invalid JSON %q", ErrInvalidCondition, c.Value)
	}
	return c
}

// Query selects documents: all conditions must hold.
type Query struct {
	// Conditions must all hold for a document to be selected; none
	// selects every document.
	Conditions []Condition
	// Limit bounds the number of documents returned; 0 means no bound.
	Limit int
}

// Err returns the first error among the conditions (see Condition.Err).
func (q Query) Err() error {
	for _, c := range q.Conditions {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}

// DocumentStore keeps JSON documents in collections. Backends implement it
// over their own storage; inside a Tx it is bound to the transaction.
//
// Documents are ordered by id wherever several are returned.
type DocumentStore interface {
	// Get returns the document with the given id, and whether it exists.
	Get(ctx context.Context, collection, id string) (data []byte, found bool, err error)
	// Put inserts or replaces a document.
	Put(ctx context.Context, collection, id string, data []byte) error
	// Delete removes a document; removing a missing one is not an error.
	Delete(ctx context.Context, collection, id string) error
	// Find returns the documents matching q, in id order.
	Find(ctx context.Context, collection string, q Query) iter.Seq2[Document, error]
	// Count returns the number of documents matching q (q.Limit ignored).
	Count(ctx context.Context, collection string, q Query) (int64, error)
	// DeleteAll removes every document of a collection.
	DeleteAll(ctx context.Context, collection string) error
	// EnsureIndex makes sure that the collection has an index on the
	// field at path (in Eq's syntax; see ValidateIndexPath), creating the
	// collection and the index where they are missing, so that Eq on that
	// field does not read every document; or, with ContainsIndex for path,
	// the index that serves Contains. It is idempotent, and cheap once
	// the store knows the index is there. A store without indexes (the
	// in-memory one) checks its arguments and does nothing else.
	EnsureIndex(ctx context.Context, collection, path string) error
}

// BatchDocumentStore is implemented by document stores that read and
// write the documents of a collection many at a time, in a few statements
// rather than one per document. DocumentProjection's Handle uses it where
// its Tx's documents have it: it reads every document a batch touches
// with one GetMany, and writes them back with one PutMany.
type BatchDocumentStore interface {
	DocumentStore
	// GetMany calls found for each document of the collection whose id is
	// among ids (given once each), in no particular order; ids without a
	// document are left out. data is valid only until found returns.
	GetMany(ctx context.Context, collection string, ids []string, found func(id string, data []byte) error) error
	// PutMany inserts or replaces documents (of distinct ids), as Put
	// does each.
	PutMany(ctx context.Context, collection string, docs []Document) error
}

// Index is an index on the field at Path (in Eq's syntax) of the documents
// of Collection, or, where Path is ContainsIndex, on whole documents.
type Index struct {
	// Collection is the name of the collection.
	Collection string
	// Path is the field's path, dot-separated for nested fields; or
	// ContainsIndex.
	Path string
}

// ContainsIndex, given to WithIndexes or EnsureIndex in place of a field's
// path, is the index on whole documents that serves Contains (and Eq on a
// field without an index of its own, which PostgreSQL narrows down by
// containment): on PostgreSQL a GIN index on data (jsonb_path_ops), named
// <collection>_data_idx; SQLite and the in-memory store have no such
// index, and only make sure of the collection. It is spelled as
// PostgreSQL's containment operator, @>, which no field's path of a
// document is taken for.
//
// A collection has no such index unless one is declared, as in Pongo (the
// document store of Emmett for Node) and Marten: every write of a document
// updates it with each of the document's paths, which costs more than any
// other part of a document's write, so declare it only for a collection
// that Contains looks up, and prefer an index on the field (WithIndexes) for
// a lookup by one field. A collection created by an earlier version of
// this module has it already: see docs/getting-started.md for dropping
// it.
const ContainsIndex = "@>"

// Indexed is implemented by projections that declare indexes on the
// documents they write (a DocumentProjection built with WithIndexes).
// Stores create the indexes of their inline projections when they open.
type Indexed interface {
	// Indexes returns the declared indexes.
	Indexes() []Index
}

// ErrInvalidIndex is matched by the error for an index path that
// ValidateIndexPath refuses.
var ErrInvalidIndex = errors.New("projection: invalid index path")

// ValidateIndexPath checks the path of an index: Eq's syntax (keys
// separated by dots, none empty), each key valid UTF-8 without '"', '\'
// or control characters. Backends write the path in their SQL (a JSON path
// for SQLite, a key literal for PostgreSQL), so that a query on the field
// is the very expression the index holds.
//
// ContainsIndex is a valid path.
func ValidateIndexPath(path string) error {
	for key := range strings.SplitSeq(path, ".") {
		if key == "" || !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool {
			return r == '"' || r == '\\' || unicode.IsControl(r)
		}) {
			return fmt.Errorf("%w %q: keys separated by '.', none empty, without '\"', '\\' or control characters", ErrInvalidIndex, path)
		}
	}
	return nil
}

// Collection is a typed view of a document collection.
type Collection[T any] struct {
	docs DocumentStore
	name string
	// resolve, when set, returns the collection's name for each call: the
	// collection of a projection's active version.
	resolve func(context.Context) (string, error)
}

// collection returns the name of the collection a call works on.
func (c Collection[T]) collection(ctx context.Context) (string, error) {
	if c.resolve == nil {
		return c.name, nil
	}
	return c.resolve(ctx)
}

// NewCollection returns the collection name of docs, with documents decoded
// into T.
func NewCollection[T any](docs DocumentStore, name string) Collection[T] {
	return Collection[T]{docs: docs, name: name}
}

// Name returns the collection's name (for a projection's Collection, the
// collection of the projection's own version; calls work on the active
// version's).
func (c Collection[T]) Name() string { return c.name }

// Get returns the document with the given id, and whether it exists.
func (c Collection[T]) Get(ctx context.Context, id string) (T, bool, error) {
	var doc T
	name, err := c.collection(ctx)
	if err != nil {
		return doc, false, err
	}
	data, found, err := c.docs.Get(ctx, name, id)
	if err != nil || !found {
		return doc, false, err
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, false, fmt.Errorf("projection: decoding document %q of %s: %w", id, name, err)
	}
	return doc, true, nil
}

// Put inserts or replaces a document.
func (c Collection[T]) Put(ctx context.Context, id string, doc T) error {
	name, err := c.collection(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("projection: encoding document %q of %s: %w", id, name, err)
	}
	return c.docs.Put(ctx, name, id, data)
}

// Delete removes a document.
func (c Collection[T]) Delete(ctx context.Context, id string) error {
	name, err := c.collection(ctx)
	if err != nil {
		return err
	}
	return c.docs.Delete(ctx, name, id)
}

// Find returns the documents matching all conditions, in id order.
func (c Collection[T]) Find(ctx context.Context, conds ...Condition) ([]T, error) {
	return c.FindQuery(ctx, Query{Conditions: conds})
}

// FindQuery returns the documents matching q, in id order.
func (c Collection[T]) FindQuery(ctx context.Context, q Query) ([]T, error) {
	var out []T
	for doc, err := range c.All(ctx, q) {
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

// All yields the documents matching q, in id order, decoding each as it
// comes: the backends read a large collection a page at a time, so it is
// gone through in bounded memory. An error ends the sequence.
func (c Collection[T]) All(ctx context.Context, q Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if err := q.Err(); err != nil {
			yield(zero, err)
			return
		}
		name, err := c.collection(ctx)
		if err != nil {
			yield(zero, err)
			return
		}
		for d, err := range c.docs.Find(ctx, name, q) {
			if err != nil {
				yield(zero, err)
				return
			}
			var doc T
			if err := json.Unmarshal(d.Data, &doc); err != nil {
				yield(zero, fmt.Errorf("projection: decoding document %q of %s: %w", d.ID, name, err))
				return
			}
			if !yield(doc, nil) {
				return
			}
		}
	}
}

// FindOne returns the first document (in id order) matching all conditions.
func (c Collection[T]) FindOne(ctx context.Context, conds ...Condition) (T, bool, error) {
	docs, err := c.FindQuery(ctx, Query{Conditions: conds, Limit: 1})
	if err != nil || len(docs) == 0 {
		var zero T
		return zero, false, err
	}
	return docs[0], true, nil
}

// Count returns the number of documents matching all conditions.
func (c Collection[T]) Count(ctx context.Context, conds ...Condition) (int64, error) {
	q := Query{Conditions: conds}
	if err := q.Err(); err != nil {
		return 0, err
	}
	name, err := c.collection(ctx)
	if err != nil {
		return 0, err
	}
	return c.docs.Count(ctx, name, q)
}

// ErrInvalidDocument is matched by the error for a document that cannot be
// stored (see ValidateDocument), and for a document id that no document
// can have (see ValidateDocumentID).
var ErrInvalidDocument = errors.New("projection: invalid document")

// ValidateDocument checks a document before it is stored: its id (see
// ValidateDocumentID), and its data, which must be a JSON value whose
// strings are text every store keeps: valid UTF-8, without the escape
// \u0000 and without a lone UTF-16 surrogate escape (\ud800 with no low
// half after it). PostgreSQL's jsonb refuses those although they are
// valid JSON; every store refuses them, the same way. Backends call it in
// Put.
func ValidateDocument(id string, data []byte) error {
	if err := ValidateDocumentID(id); err != nil {
		return err
	}
	if !json.Valid(data) {
		return fmt.Errorf("%w %q: data is not JSON", ErrInvalidDocument, id)
	}
	if err := storable.JSON(data); err != nil {
		return fmt.Errorf("%w %q: data %w", ErrInvalidDocument, id, err)
	}
	return nil
}

// ValidateDocumentID checks a document id: not empty, valid UTF-8 and
// without NUL, text every store keeps. Backends call it in Get, Put and
// Delete, so that an id no document can have is an error matching
// ErrInvalidDocument on every store, rather than not found on one and a
// database error on another.
func ValidateDocumentID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty id", ErrInvalidDocument)
	}
	if err := storable.Text(id); err != nil {
		return fmt.Errorf("%w %q: id %w", ErrInvalidDocument, id, err)
	}
	return nil
}
