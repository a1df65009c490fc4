package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"strings"
	"sync"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/projection"
)

// Document collections are tables with Pongo's layout (Pongo is the
// document store Emmett for Node keeps its read models in): one table per
// collection, named after it, one row per document, the document's JSON in
// data. Applications can query them with plain SQL and SQLite's JSON
// functions:
//
//	SELECT _id, json_extract(data, '$.total') FROM shopping_cart_details
//
// The one difference from Pongo's DDL is the declared type of data and
// metadata: TEXT instead of JSON. SQLite gives a column declared JSON
// numeric affinity, so it would store a document that is a bare number
// such as 1.50 as the REAL 1.5 (and a large integer with a loss of
// precision); TEXT keeps every document byte for byte. Pongo reads both
// alike. The document is stored as it was given: unlike Pongo, the store
// does not copy _id and _version into it.
func createCollectionSQL(name string) string {
	return `CREATE TABLE IF NOT EXISTS "` + name + `" (
	_id        TEXT    PRIMARY KEY,
	data       TEXT    NOT NULL,
	metadata   TEXT    NOT NULL DEFAULT '{}',
	_version   INTEGER NOT NULL DEFAULT 1,
	_partition TEXT    NOT NULL DEFAULT 'png_global',
	_archived  INTEGER NOT NULL DEFAULT 0,
	_created   TEXT    NOT NULL DEFAULT (datetime('now')),
	_updated   TEXT    NOT NULL DEFAULT (datetime('now'))
)`
}

// createIndexSQL creates the index on the field at path of a collection's
// documents: an index on the expression json_extract(data, '$."a"."b"'),
// which Eq on the field writes in its query word for word (see
// sqlBuilder.path), so that SQLite's planner finds it there.
func createIndexSQL(name, path string) string {
	return `CREATE INDEX IF NOT EXISTS "` + docsql.IndexName(name, path) + `" ON "` + name + `" (json_extract(data, ` +
		rootPath(strings.Split(path, ".")) + `))`
}

// collectionShapeSQL counts the columns a table needs to be a collection:
// a table of the application's own that happens to have a collection's
// name is refused rather than written to (or emptied by DeleteAll).
const collectionShapeSQL = `SELECT count(*) FROM pragma_table_info(?) WHERE name IN ('_id', 'data')`

// The statements of a collection, by kind.
type docStmt uint8

const (
	docGet docStmt = iota
	docPut
	docDelete
	docDeleteAll
	docGetMany
	// docPutMany is the first of the upserts of several rows: docPutMany+i
	// writes 2<<i documents, up to maxPutRows.
	docPutMany
	docStmtCount = docPutMany + putManySizes
)

// The upserts of several documents (PutMany) write 2, 4, ... maxPutRows
// rows each; a batch is written by as many of them as the binary digits
// of its size say, maxPutRows at a time.
const (
	putManySizes = 6
	maxPutRows   = 2 << (putManySizes - 1)
)

func docSQL(kind docStmt, name string) string {
	q := `"` + name + `"`
	switch kind {
	case docGet:
		return `SELECT data FROM ` + q + ` WHERE _id = ?`
	case docGetMany:
		// The ids come as a JSON array, looked up one by one in the
		// primary key (CROSS JOIN keeps json_each the outer loop).
		return `SELECT d._id, d.data FROM json_each(?) AS i CROSS JOIN ` + q + ` AS d ON d._id = i.value`
	case docPut:
		return putSQL(q, 1)
	case docDelete:
		return `DELETE FROM ` + q + ` WHERE _id = ?`
	case docDeleteAll:
		return `DELETE FROM ` + q
	default:
		return putSQL(q, 2<<(kind-docPutMany))
	}
}

// putSQL is the upsert of rows documents into the collection named by
// the quoted identifier q: as Pongo's replace, the version counts the
// writes.
func putSQL(q string, rows int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO ` + q + ` (_id, data) VALUES (?, ?)`)
	for range rows - 1 {
		sb.WriteString(`, (?, ?)`)
	}
	sb.WriteString(`
ON CONFLICT (_id) DO UPDATE SET data = excluded.data, _version = _version + 1, _updated = datetime('now')`)
	return sb.String()
}

// reservedPrefixes are the table names a collection may not take: the
// event store's own tables, and SQLite's.
var reservedPrefixes = []string{"emt_", "sqlite_"}

// validateCollection checks a collection name before it is used as an
// identifier: projection.ValidateCollection, and none of the event store's
// or SQLite's own table names.
func validateCollection(name string) error {
	return docsql.ValidateCollection(name, reservedPrefixes, "SQLite")
}

// docRegistry knows the collections that exist, with their statements
// prepared on the pools.
type docRegistry struct {
	mu      sync.RWMutex
	known   map[string]*collection
	indexed map[indexKey]bool    // the indexes known to exist
	queries map[string]*sql.Stmt // the readers' statements of queries, by their text

	// pending lists the collections the running write transaction created
	// (or found), and pendingIndexes its indexes; they are registered once
	// it commits. Only the holder of the writer touches them.
	pending        []string
	pendingIndexes []indexKey
}

// indexKey names an index: the collection and the field's path.
type indexKey struct{ collection, path string }

func (r *docRegistry) hasIndex(key indexKey) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.indexed[key]
}

// forgetIndexes forgets the indexes of a collection whose table is created
// anew: the next EnsureIndex checks them again.
func (r *docRegistry) forgetIndexes(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.indexed {
		if key.collection == name {
			delete(r.indexed, key)
		}
	}
}

// forget forgets a collection whose table was dropped, and closes its
// statements: the next use creates it again.
func (r *docRegistry) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.known[name]; c != nil {
		for _, st := range append(c.writer[:], c.read) {
			if st != nil {
				_ = st.Close()
			}
		}
		delete(r.known, name)
	}
	for key := range r.indexed {
		if key.collection == name {
			delete(r.indexed, key)
		}
	}
}

// collection is a known collection's prepared statements: writer
// statements (used in transactions through Tx.StmtContext) and the
// readers' Get. A statement that failed to prepare is nil, and the SQL
// text is used instead.
type collection struct {
	writer [docStmtCount]*sql.Stmt
	read   *sql.Stmt
}

func (r *docRegistry) lookup(name string) *collection {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.known[name]
}

// commitPending registers the collections of a committed transaction. The
// caller holds the writer and its transaction is over, so that the
// writer's connection is free to prepare on.
func (r *docRegistry) commitPending(s *Store) {
	if len(r.pendingIndexes) > 0 {
		r.mu.Lock()
		if r.indexed == nil {
			r.indexed = map[indexKey]bool{}
		}
		for _, key := range r.pendingIndexes {
			r.indexed[key] = true
		}
		r.mu.Unlock()
		r.pendingIndexes = nil
	}
	if len(r.pending) == 0 {
		return
	}
	names := r.pending
	r.pending = nil
	ctx := context.Background()
	for _, name := range names {
		if r.lookup(name) != nil {
			continue
		}
		c := &collection{}
		for kind := range docStmtCount {
			c.writer[kind], _ = s.w.db.PrepareContext(ctx, docSQL(kind, name))
		}
		c.read, _ = s.readers.PrepareContext(ctx, docSQL(docGet, name))
		r.mu.Lock()
		if r.known == nil {
			r.known = map[string]*collection{}
		}
		r.known[name] = c
		r.mu.Unlock()
	}
}

// dropPending forgets the collections of a transaction that rolled back:
// the tables it created are gone with it.
func (r *docRegistry) dropPending() { r.pending, r.pendingIndexes = nil, nil }

func (r *docRegistry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.known {
		for _, st := range append(c.writer[:], c.read) {
			if st != nil {
				_ = st.Close()
			}
		}
	}
	for _, st := range r.queries {
		_ = st.Close()
	}
	r.known, r.queries = nil, nil
}

// maxQueryStmts bounds the statements of queries kept prepared; queries of
// other texts are prepared each time they run.
const maxQueryStmts = 256

// queryStmt returns the statement of a query on the readers, prepared the
// first time (nil when it cannot be, or too many are): the text of a query
// holds its collection, the shape of its conditions and their paths, never
// a value, so that an application's queries take a few texts, each parsed
// and planned once rather than at every lookup.
func (r *docRegistry) queryStmt(ctx context.Context, readers *sql.DB, query string) *sql.Stmt {
	r.mu.RLock()
	st := r.queries[query]
	r.mu.RUnlock()
	if st != nil {
		return st
	}
	if r.full() {
		return nil
	}
	// Prepared without the lock, which a write transaction takes while it
	// holds the connection that an in-memory database's readers share.
	st, err := readers.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query runs unprepared, and reports the error
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kept := r.queries[query]; {
	case kept != nil:
		_ = st.Close() // prepared meanwhile
		return kept
	case len(r.queries) >= maxQueryStmts:
		_ = st.Close()
		return nil
	}
	if r.queries == nil {
		r.queries = map[string]*sql.Stmt{}
	}
	r.queries[query] = st
	return st
}

func (r *docRegistry) full() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.queries) >= maxQueryStmts
}

// docTx is the document store bound to a write transaction: the append's
// (inline projections), a processor's Commit, or one of its own for a
// write outside any.
type docTx struct {
	s  *Store
	tx *sql.Tx
	// ensured are the collections known to exist in this transaction;
	// missing, those found missing although the store knew them.
	ensured, missing map[string]bool
	indexed          map[indexKey]bool    // indexes ensured in this transaction
	stmts            map[docKey]*sql.Stmt // transaction-bound statements
}

type docKey struct {
	name string
	kind docStmt
}

func (s *Store) docTx(tx *sql.Tx) *docTx { return &docTx{s: s, tx: tx} }

// newTx returns the projection.Tx of a write transaction: its Documents
// are the documents as the transaction sees them, whose writes commit or
// roll back with it; Unwrap returns the *sql.Tx, for projections that
// write tables of their own.
func (s *Store) newTx(tx *sql.Tx) projection.Tx { return backend.NewTx(s.docTx(tx), tx) }

// ensure makes sure the collection's table exists in the transaction,
// creating it if needed, and that it is a collection.
func (t *docTx) ensure(ctx context.Context, name string) error {
	if t.ensured[name] {
		return nil
	}
	if t.missing[name] || t.s.docs.lookup(name) == nil {
		if _, err := t.tx.ExecContext(ctx, createCollectionSQL(name)); err != nil {
			return t.s.dbError(ctx, "creating collection "+name, err)
		}
		var n int
		if err := t.tx.QueryRowContext(ctx, collectionShapeSQL, name).Scan(&n); err != nil {
			return t.s.dbError(ctx, "checking collection "+name, err)
		}
		if n != 2 {
			return fmt.Errorf("sqlite: table %q exists and is not a document collection (it lacks the _id and data columns)", name)
		}
		if t.missing[name] {
			t.s.docs.forgetIndexes(name) // a table created anew has none
		}
		t.s.docs.pending = append(t.s.docs.pending, name)
	}
	if t.ensured == nil {
		t.ensured = map[string]bool{}
	}
	t.ensured[name] = true
	return nil
}

// stmt returns the collection's statement of the given kind, bound to the
// transaction.
func (t *docTx) stmt(ctx context.Context, name string, kind docStmt) (*sql.Stmt, error) {
	key := docKey{name, kind}
	if st := t.stmts[key]; st != nil {
		return st, nil
	}
	if err := t.ensure(ctx, name); err != nil {
		return nil, err
	}
	var st *sql.Stmt
	if c := t.s.docs.lookup(name); c != nil && c.writer[kind] != nil {
		st = t.tx.StmtContext(ctx, c.writer[kind])
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, docSQL(kind, name)); err != nil {
			return nil, t.s.dbError(ctx, "preparing a statement on collection "+name, err)
		}
	}
	if t.stmts == nil {
		t.stmts = map[docKey]*sql.Stmt{}
	}
	t.stmts[key] = st
	return st, nil
}

// forget drops what the transaction knew of a collection whose table went
// missing, so that the next use creates it again.
func (t *docTx) forget(name string) {
	if t.missing == nil {
		t.missing = map[string]bool{}
	}
	t.missing[name] = true
	delete(t.ensured, name)
	for key := range t.indexed {
		if key.collection == name {
			delete(t.indexed, key)
		}
	}
	for kind := range docStmtCount {
		delete(t.stmts, docKey{name, kind})
	}
}

// EnsureIndex implements projection.DocumentStore: it creates the
// collection if need be, and the index on the field at path (see
// createIndexSQL) unless the store knows it is there. The index is
// registered once the transaction commits. SQLite has no index that
// serves containment: projection.ContainsIndex only makes sure of the
// collection.
func (t *docTx) EnsureIndex(ctx context.Context, name, path string) error {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateIndexPath(path); err != nil {
		return err
	}
	key := indexKey{name, path}
	if t.indexed[key] || (!t.missing[name] && t.s.docs.hasIndex(key)) {
		return nil
	}
	if err := t.ensure(ctx, name); err != nil {
		return err
	}
	if path != projection.ContainsIndex {
		if _, err := t.tx.ExecContext(ctx, createIndexSQL(name, path)); err != nil {
			return t.s.dbError(ctx, "creating the index on "+path+" of "+name, err)
		}
	}
	if t.indexed == nil {
		t.indexed = map[indexKey]bool{}
	}
	t.indexed[key] = true
	t.s.docs.pendingIndexes = append(t.s.docs.pendingIndexes, key)
	return nil
}

// checkDoc checks the context and the collection name (a known collection
// was checked when it was first used).
func (s *Store) checkDoc(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.docs.lookup(name) != nil {
		return nil
	}
	return validateCollection(name)
}

// Get implements projection.DocumentStore.
func (t *docTx) Get(ctx context.Context, name, id string) ([]byte, bool, error) {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return nil, false, err
	}
	if err := projection.ValidateDocumentID(id); err != nil {
		return nil, false, err
	}
	st, err := t.stmt(ctx, name, docGet)
	if err != nil {
		return nil, false, err
	}
	var data []byte
	err = st.QueryRowContext(ctx, id).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case isNoSuchTable(err):
		t.forget(name)
		return nil, false, nil
	case err != nil:
		return nil, false, t.s.dbError(ctx, "reading document "+id+" of "+name, err)
	}
	return data, true, nil
}

// Put implements projection.DocumentStore.
func (t *docTx) Put(ctx context.Context, name, id string, data []byte) error {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateDocument(id, data); err != nil {
		return err
	}
	// Bound as TEXT: SQLite's JSON functions take a BLOB for JSONB.
	return t.execPut(ctx, name, "document "+id, docPut, []any{id, bytesString(data)})
}

// GetMany implements projection.BatchDocumentStore: one query, the ids
// passed as a JSON array.
func (t *docTx) GetMany(ctx context.Context, name string, ids []string, found func(id string, data []byte) error) error {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return err
	}
	for _, id := range ids {
		if err := projection.ValidateDocumentID(id); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	st, err := t.stmt(ctx, name, docGetMany)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, bytesString(list))
	switch {
	case isNoSuchTable(err):
		t.forget(name)
		return nil
	case err != nil:
		return t.s.dbError(ctx, "reading documents of "+name, err)
	}
	defer rows.Close()
	var (
		id   string
		data sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&id, &data); err != nil {
			return t.s.dbError(ctx, "reading documents of "+name, err)
		}
		if err := found(id, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return t.s.dbError(ctx, "reading documents of "+name, err)
	}
	return nil
}

// PutMany implements projection.BatchDocumentStore: the documents are
// written by upserts of maxPutRows, then of the powers of two that make
// up the rest (a batch of 100: 64, 32 and 4 rows).
func (t *docTx) PutMany(ctx context.Context, name string, docs []projection.Document) error {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return err
	}
	for _, d := range docs {
		if err := projection.ValidateDocument(d.ID, d.Data); err != nil {
			return err
		}
	}
	args := make([]any, 0, 2*min(len(docs), maxPutRows))
	for len(docs) > 0 {
		rows := min(len(docs), maxPutRows)
		rows = 1 << (bits.Len(uint(rows)) - 1) // the largest power of two in it
		kind := docPut
		if rows > 1 {
			kind = docPutMany + docStmt(bits.Len(uint(rows))-2)
		}
		args = args[:0]
		for _, d := range docs[:rows] {
			// Bound as TEXT: SQLite's JSON functions take a BLOB for JSONB.
			args = append(args, d.ID, bytesString(d.Data))
		}
		if err := t.execPut(ctx, name, "documents", kind, args); err != nil {
			return err
		}
		docs = docs[rows:]
	}
	return nil
}

// execPut runs an upsert of documents; a table dropped behind the
// transaction's back is created again.
func (t *docTx) execPut(ctx context.Context, name, what string, kind docStmt, args []any) error {
	for attempt := 0; ; attempt++ {
		st, err := t.stmt(ctx, name, kind)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, args...)
		if isNoSuchTable(err) && attempt == 0 {
			t.forget(name)
			continue
		}
		if err != nil {
			return t.s.dbError(ctx, "writing "+what+" of "+name, err)
		}
		return nil
	}
}

// Delete implements projection.DocumentStore.
func (t *docTx) Delete(ctx context.Context, name, id string) error {
	if err := projection.ValidateDocumentID(id); err != nil {
		return err
	}
	return t.exec(ctx, name, docDelete, id)
}

// DeleteAll implements projection.DocumentStore.
func (t *docTx) DeleteAll(ctx context.Context, name string) error {
	return t.exec(ctx, name, docDeleteAll)
}

func (t *docTx) exec(ctx context.Context, name string, kind docStmt, args ...any) error {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return err
	}
	st, err := t.stmt(ctx, name, kind)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	switch {
	case isNoSuchTable(err):
		t.forget(name) // nothing to delete
		return nil
	case err != nil:
		return t.s.dbError(ctx, "deleting from "+name, err)
	}
	return nil
}

// Find implements projection.DocumentStore.
func (t *docTx) Find(ctx context.Context, name string, q projection.Query) iter.Seq2[projection.Document, error] {
	return func(yield func(projection.Document, error) bool) {
		if err := t.s.checkDoc(ctx, name); err != nil {
			yield(projection.Document{}, err)
			return
		}
		if err := t.ensure(ctx, name); err != nil {
			yield(projection.Document{}, err)
			return
		}
		t.s.find(ctx, t.tx, name, q, yield)
	}
}

// Count implements projection.DocumentStore.
func (t *docTx) Count(ctx context.Context, name string, q projection.Query) (int64, error) {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return 0, err
	}
	if err := t.ensure(ctx, name); err != nil {
		return 0, err
	}
	return t.s.count(ctx, t.tx, name, q)
}

// Documents returns the store's document collections. Reads run on the
// reader connections and see what is committed; each write outside a
// projection's transaction commits on its own, on the writer.
//
// Each collection is a table of its own, with Pongo's layout, created on
// first use:
//
//	_id TEXT PRIMARY KEY, data TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',
//	_version INTEGER NOT NULL DEFAULT 1, _partition TEXT NOT NULL DEFAULT 'png_global',
//	_archived INTEGER NOT NULL DEFAULT 0, _created TEXT, _updated TEXT
//
// data holds the document's JSON as it was put, so SQL can query it with
// SQLite's JSON functions (json_extract(data, '$.total')). _version counts
// the writes of a document. Collection names are plain identifiers (see
// projection.ValidateCollection), and may not start with "emt_" or
// "sqlite_", the prefixes of the event store's and SQLite's own tables.
//
// EnsureIndex (which a projection declaring WithIndexes calls) adds an
// index on json_extract(data, '$."a"."b"'), named "<collection>:<path>";
// Eq on the field writes that very expression, so that SQLite looks the
// documents up in the index instead of reading them all.
//
// Queries run as SQL: Eq compares json_extract with the JSON type checked
// (a number never equals a string), Contains checks objects key by key and
// arrays element by element with json_each, as PostgreSQL's @> does. What
// SQL cannot express (equality to a whole object or array, a key with a
// '"' or '\' in it) is narrowed down in SQL and checked in Go with
// backend.Match, so that results are always backend.Match's (but
// for documents with a key twice in one object, where SQLite's JSON
// functions see the first value and Go's decoder the last).
// Documents are returned in id order, in pages, so that no cursor stays
// open while the caller's loop runs.
func (s *Store) Documents() projection.DocumentStore { return storeDocs{s} }

type storeDocs struct{ s *Store }

// Get implements projection.DocumentStore.
func (d storeDocs) Get(ctx context.Context, name, id string) ([]byte, bool, error) {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return nil, false, err
	}
	if err := projection.ValidateDocumentID(id); err != nil {
		return nil, false, err
	}
	if err := d.s.beginRead(); err != nil {
		return nil, false, err
	}
	var row *sql.Row
	if c := d.s.docs.lookup(name); c != nil && c.read != nil {
		row = c.read.QueryRowContext(ctx, id)
	} else {
		row = d.s.readers.QueryRowContext(ctx, docSQL(docGet, name), id)
	}
	var data []byte
	err := row.Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows), isNoSuchTable(err):
		return nil, false, nil
	case err != nil:
		return nil, false, d.s.dbError(ctx, "reading document "+id+" of "+name, err)
	}
	return data, true, nil
}

// Put implements projection.DocumentStore.
func (d storeDocs) Put(ctx context.Context, name, id string, data []byte) error {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateDocument(id, data); err != nil {
		return err
	}
	return d.s.writeTx(ctx, func(tx *sql.Tx) error { return d.s.docTx(tx).Put(ctx, name, id, data) })
}

// Delete implements projection.DocumentStore.
func (d storeDocs) Delete(ctx context.Context, name, id string) error {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return err
	}
	return d.s.writeTx(ctx, func(tx *sql.Tx) error { return d.s.docTx(tx).Delete(ctx, name, id) })
}

// DeleteAll implements projection.DocumentStore.
func (d storeDocs) DeleteAll(ctx context.Context, name string) error {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return err
	}
	return d.s.writeTx(ctx, func(tx *sql.Tx) error { return d.s.docTx(tx).DeleteAll(ctx, name) })
}

// EnsureIndex implements projection.DocumentStore: once the store knows
// the index is there, it returns at once; otherwise it creates what is
// missing in a write transaction (see docTx.EnsureIndex).
func (d storeDocs) EnsureIndex(ctx context.Context, name, path string) error {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateIndexPath(path); err != nil {
		return err
	}
	if d.s.docs.hasIndex(indexKey{name, path}) {
		return nil
	}
	return d.s.writeTx(ctx, func(tx *sql.Tx) error { return d.s.docTx(tx).EnsureIndex(ctx, name, path) })
}

// Find implements projection.DocumentStore.
func (d storeDocs) Find(ctx context.Context, name string, q projection.Query) iter.Seq2[projection.Document, error] {
	return func(yield func(projection.Document, error) bool) {
		if err := d.s.checkDoc(ctx, name); err != nil {
			yield(projection.Document{}, err)
			return
		}
		d.s.find(ctx, d.s.readers, name, q, yield)
	}
}

// Count implements projection.DocumentStore.
func (d storeDocs) Count(ctx context.Context, name string, q projection.Query) (int64, error) {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return 0, err
	}
	return d.s.count(ctx, d.s.readers, name, q)
}

// querier runs queries: the readers' pool, or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// find yields the documents of a collection that match q, in id order, a
// page at a time (keyset pagination on _id).
func (s *Store) find(ctx context.Context, db querier, name string, q projection.Query, yield func(projection.Document, error) bool) {
	plan, err := planQuery(q)
	if err != nil {
		yield(projection.Document{}, err)
		return
	}
	err = docsql.Find(ctx, "sqlite", name, q.Limit, plan.InGo, func(page []projection.Document, after string, first bool, limit int) ([]projection.Document, error) {
		if err := s.beginRead(); err != nil {
			return page, err
		}
		query, args := pageSQL(name, plan, after, first, limit)
		return s.findPage(ctx, db, query, args, page)
	}, yield)
	switch {
	case isNoSuchTable(err):
		// a collection nothing was written to is empty
	case err != nil:
		yield(projection.Document{}, s.dbError(ctx, "querying "+name, err))
	}
}

// pageSQL is the query of a page of Find: the documents matching the plan,
// after the id after unless first, in id order.
func pageSQL(name string, plan docsql.Plan, after string, first bool, limit int) (string, []any) {
	var sb strings.Builder
	args := make([]any, 0, len(plan.Args)+2)
	sb.WriteString(`SELECT d._id, d.data FROM "` + name + `" AS d WHERE `)
	if first {
		sb.WriteString("1")
	} else {
		sb.WriteString("d._id > ?")
		args = append(args, after)
	}
	sb.WriteString(plan.Where)
	args = append(args, plan.Args...)
	sb.WriteString(" ORDER BY d._id LIMIT ?")
	args = append(args, limit)
	return sb.String(), args
}

// docCountSQL is the query of Count, for a plan without conditions left to Go.
func docCountSQL(name string, plan docsql.Plan) string {
	return `SELECT count(*) FROM "` + name + `" AS d WHERE 1` + plan.Where
}

// query runs a document query on db: on the readers, through the query's
// statement (see docRegistry.queryStmt).
func (s *Store) query(ctx context.Context, db querier, query string, args []any) (*sql.Rows, error) {
	if db == querier(s.readers) {
		if st := s.docs.queryStmt(ctx, s.readers, query); st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return db.QueryContext(ctx, query, args...)
}

func (s *Store) findPage(ctx context.Context, db querier, query string, args []any, page []projection.Document) ([]projection.Document, error) {
	rows, err := s.query(ctx, db, query, args)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	return docsql.ScanPage(rows, page)
}

// count counts the documents of a collection that match q.
func (s *Store) count(ctx context.Context, db querier, name string, q projection.Query) (int64, error) {
	q.Limit = 0
	plan, err := planQuery(q)
	if err != nil {
		return 0, err
	}
	if len(plan.InGo.Conditions) > 0 {
		return docsql.Count(func(yield func(projection.Document, error) bool) error {
			s.find(ctx, db, name, q, yield)
			return nil
		})
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.beginRead(); err != nil {
		return 0, err
	}
	rows, err := s.query(ctx, db, docCountSQL(name, plan), plan.Args)
	if isNoSuchTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, s.dbError(ctx, "counting "+name, err)
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, s.dbError(ctx, "counting "+name, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, s.dbError(ctx, "counting "+name, err)
	}
	return n, nil
}

// writeTx runs fn in a transaction on the writer, which it holds
// throughout: it commits if fn succeeds and rolls back otherwise, and
// registers the collections the transaction created once it committed.
// The transaction holds the database's write lock from its start (see
// writer.immediate), so that fn can read, then write.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := s.w.acquire(ctx); err != nil {
		return err
	}
	defer s.w.release()
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return s.dbError(ctx, "starting a transaction", err)
	}
	if !s.w.immediate {
		// fn may read before it writes: take the write lock first.
		if _, err := tx.StmtContext(ctx, s.w.lock).ExecContext(ctx); err != nil {
			_ = tx.Rollback()
			return s.dbError(ctx, "taking the write lock", err)
		}
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		s.docs.dropPending()
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		s.docs.dropPending()
		return s.dbError(ctx, "committing", err)
	}
	s.docs.commitPending(s)
	return nil
}

// dbError wraps a database error; when the context ended or the store was
// closed, that is what the caller sees.
func (s *Store) dbError(ctx context.Context, doing string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return fmt.Errorf("sqlite: %s: %w", doing, err)
}
