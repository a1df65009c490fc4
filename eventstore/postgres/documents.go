package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strings"
	"sync"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/internal/docsql"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Document collections are tables with Pongo's layout (Pongo is the
// document store Emmett for Node keeps its read models in), one per
// collection, named after it: a table Pongo created is used as it is, and
// the reverse. Like Pongo, the store creates no index but the primary key:
// the GIN index on data (jsonb_path_ops) that serves containment queries
// is created where it is declared (projection.ContainsIndex, see
// EnsureIndex), as are the indexes on fields.
func createCollectionSQL(name string) string {
	return `CREATE TABLE IF NOT EXISTS "` + name + `" (
      _id           TEXT           PRIMARY KEY, 
      data          JSONB          NOT NULL, 
      metadata      JSONB          NOT NULL     DEFAULT '{}',
      _version      BIGINT         NOT NULL     DEFAULT 1,
      _partition    TEXT           NOT NULL     DEFAULT 'png_global',
      _archived     BOOLEAN        NOT NULL     DEFAULT FALSE,
      _created      TIMESTAMPTZ    NOT NULL     DEFAULT now(),
      _updated      TIMESTAMPTZ    NOT NULL     DEFAULT now()
  )`
}

// createDataIndexSQL creates a collection's GIN index on data
// (projection.ContainsIndex), which serves Contains and narrows Eq down
// (see query.go).
func createDataIndexSQL(name string) string {
	return `CREATE INDEX IF NOT EXISTS "` + dataIndexName(name) + `" ON "` + name + `" USING gin (data jsonb_path_ops)`
}

// indexName is the name of the index on the field at path of a
// collection, or of its GIN index for projection.ContainsIndex; create is
// the statement that creates it.
func indexName(name, path string) (index, create string) {
	if path == projection.ContainsIndex {
		return dataIndexName(name), createDataIndexSQL(name)
	}
	return docsql.IndexName(name, path), createIndexSQL(name, path)
}

// dataIndexName is the name of a collection's GIN index: <name>_data_idx,
// or, where that would pass PostgreSQL's 63 bytes, the name cut short with
// a hash of it, so that two long names never share an index name.
func dataIndexName(name string) string {
	const suffix = "_data_idx"
	if len(name)+len(suffix) <= 63 {
		return name + suffix
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:4])
	return name[:63-len(suffix)-len(h)-1] + "_" + h + suffix
}

// createIndexSQL creates the index on the field at path of a collection's
// documents: a btree on the expression ((data -> 'a'::text) -> 'b'::text),
// the jsonb at the path, which Eq on the field writes in its query (see
// fieldExpr), so that the planner finds it there. It serves equality (and
// the range Eq on a number narrows down to).
func createIndexSQL(name, path string) string {
	return `CREATE INDEX IF NOT EXISTS "` + docsql.IndexName(name, path) + `" ON "` + name + `" (` +
		fieldExpr("data", strings.Split(path, ".")) + `)`
}

// indexExistsSQL tells whether an index ($1, quoted) of a collection ($2,
// quoted) is there: a relation of that name that is not the collection's
// index (a collection named like another's GIN index) is not.
const indexExistsSQL = `SELECT EXISTS (SELECT FROM pg_index WHERE indexrelid = to_regclass($1) AND indrelid = to_regclass($2))`

// collectionShapeSQL tells whether a table is there ($1, quoted) and
// counts the columns it needs to be a collection: a table of the
// application's own that has a collection's name is refused rather than
// written to (or emptied by DeleteAll).
const collectionShapeSQL = `SELECT to_regclass($1) IS NOT NULL, (SELECT count(*) FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
  AND (attname = '_id' OR (attname = 'data' AND atttypid = 'jsonb'::regtype)))`

// The statements of a collection.
func getDocSQL(name string) string { return `SELECT data FROM "` + name + `" WHERE _id = $1` }

// A transaction reads a document with its _version, to write it back
// without losing a concurrent transaction's write (see docTx).
func getDocVersionSQL(name string) string {
	return `SELECT data, _version FROM "` + name + `" WHERE _id = $1`
}

// getDocForUpdateSQL also locks the row, so that two transactions changing
// one document (inline projections of appends to two streams) take turns,
// the second reading what the first wrote.
func getDocForUpdateSQL(name string) string {
	return `SELECT data, _version FROM "` + name + `" WHERE _id = $1 FOR NO KEY UPDATE`
}

// insertDocSQL writes a document the transaction read as missing: if
// another one created it meanwhile, nothing is written.
func insertDocSQL(name string) string {
	return `INSERT INTO "` + name + `" (_id, data) VALUES ($1, $2::jsonb) ON CONFLICT (_id) DO NOTHING`
}

// insertNewDocSQL is insertDocSQL whose conflict is an error, for a write
// queued to run with the commit (see deferWrites), where no row count can
// be checked.
func insertNewDocSQL(name string) string {
	return `INSERT INTO "` + name + `" (_id, data) VALUES ($1, $2::jsonb)`
}

// updateDocSQL writes a document the transaction read: if another one
// changed (or deleted) it meanwhile, nothing is written.
func updateDocSQL(name string) string {
	return `UPDATE "` + name + `" SET data = $2::jsonb, _version = _version + 1, _updated = now() WHERE _id = $1 AND _version = $3`
}

// putDocSQL is an upsert, as Pongo's replace: _version counts the writes.
func putDocSQL(name string) string {
	return `INSERT INTO "` + name + `" AS c (_id, data) VALUES ($1, $2::jsonb)
ON CONFLICT (_id) DO UPDATE SET data = excluded.data, _version = c._version + 1, _updated = now()`
}

func deleteDocSQL(name string) string     { return `DELETE FROM "` + name + `" WHERE _id = $1` }
func deleteAllDocsSQL(name string) string { return `DELETE FROM "` + name + `"` }

// reservedPrefixes are the table names a collection may not take: the event
// store's own tables, dumbo's migrations table, PostgreSQL's catalogs.
var reservedPrefixes = []string{"emt_", "dmb_", "pg_"}

// validateCollection checks a collection name before it is used as an
// identifier: projection.ValidateCollection, and none of the reserved
// prefixes.
func validateCollection(name string) error {
	return docsql.ValidateCollection(name, reservedPrefixes, "PostgreSQL")
}

// errCollectionGone marks the error of a statement on a collection whose
// table went missing (dropped behind the store's back) inside a
// transaction, which that error aborted: the whole transaction may be
// tried again, and will create the table anew.
var errCollectionGone = errors.New("postgres: document collection dropped while in use")

// errDocumentChanged marks the error of a Put of a document that another
// transaction created, changed or deleted since this one read it: writing
// it would lose that one's write, so the whole transaction may be tried
// again (and will read the document anew).
var errDocumentChanged = errors.New("postgres: document changed by a concurrent transaction since it was read")

func isUndefinedTable(err error) bool {
	pgErr := pgError(err)
	return pgErr != nil && pgErr.Code == codeUndefinedTable
}

// docRegistry knows the collections and the indexes that exist (created
// or checked by this store in a transaction that committed).
type docRegistry struct {
	mu      sync.RWMutex
	known   map[string]bool
	indexed map[indexKey]bool
}

// indexKey names an index: the collection and the field's path.
type indexKey struct{ collection, path string }

func (r *docRegistry) has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.known[name]
}

func (r *docRegistry) hasIndex(key indexKey) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.indexed[key]
}

// commit registers what a transaction that committed created or checked.
func (r *docRegistry) commit(st *txState) {
	r.add(st.created...)
	if len(st.indexed) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.indexed == nil {
		r.indexed = map[indexKey]bool{}
	}
	for _, key := range st.indexed {
		r.indexed[key] = true
	}
}

func (r *docRegistry) add(names ...string) {
	if len(names) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil {
		r.known = map[string]bool{}
	}
	for _, n := range names {
		r.known[n] = true
	}
}

func (r *docRegistry) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.known, name)
	for key := range r.indexed {
		if key.collection == name {
			delete(r.indexed, key)
		}
	}
}

// dbtx runs statements: the pool, or a transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// createCollection makes sure a collection's table is there in tx, and
// that it is a collection. When it is, it only reads the catalog: DDL,
// even CREATE TABLE IF NOT EXISTS on a table that exists, would lock the
// table against writers until tx ends. Otherwise it creates it; creators
// of one collection queue on an advisory lock, as concurrent CREATE TABLE
// IF NOT EXISTS of one name may otherwise fail. What tx creates is
// visible to others once it commits.
func (s *Store) createCollection(ctx context.Context, tx pgx.Tx, name string) error {
	exists, columns, err := collectionShape(ctx, tx, name)
	switch {
	case err != nil:
		return s.dbError(ctx, "checking collection "+name, err)
	case exists && columns != 2:
		return notACollection(name)
	case exists:
		return nil
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "emt_collection:"+name)
	b.Queue(createCollectionSQL(name))
	b.Queue(collectionShapeSQL, `"`+name+`"`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&exists, &columns)
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return s.dbError(ctx, "creating collection "+name, err)
	}
	if columns != 2 {
		return notACollection(name)
	}
	return nil
}

func collectionShape(ctx context.Context, db dbtx, name string) (exists bool, columns int, err error) {
	err = db.QueryRow(ctx, collectionShapeSQL, `"`+name+`"`).Scan(&exists, &columns)
	return exists, columns, err
}

func notACollection(name string) error {
	return fmt.Errorf("postgres: table %q exists and is not a document collection (it lacks the _id column or the jsonb data column)", name)
}

// checkCollection checks, outside any transaction, that the table of a
// collection this store does not know yet is a collection if it exists.
func (s *Store) checkCollection(ctx context.Context, name string) (exists bool, err error) {
	exists, columns, err := collectionShape(ctx, s.pool, name)
	if err != nil {
		return false, s.dbError(ctx, "checking collection "+name, err)
	}
	switch {
	case !exists:
		return false, nil
	case columns != 2:
		return true, notACollection(name)
	}
	s.docs.add(name)
	return true, nil
}

// checkDoc checks the context, the store and the collection name (a known
// collection was checked when it was first used).
func (s *Store) checkDoc(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if s.docs.has(name) {
		return nil
	}
	return validateCollection(name)
}

// dbError wraps a database error; when the context ended or the store was
// closed, that is what the caller sees.
func (s *Store) dbError(ctx context.Context, doing string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("postgres: %s: %w (%w)", doing, cerr, err)
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return fmt.Errorf("postgres: %s: %w", doing, markUnavailable(err))
}

// putError is the error of a failed Put: a document that PostgreSQL's jsonb
// refuses (a \u0000 in a string, a lone surrogate) is invalid.
func (s *Store) putError(ctx context.Context, name, id string, err error) error {
	if pgErr := pgError(err); pgErr != nil && strings.HasPrefix(pgErr.Code, "22") {
		return fmt.Errorf("%w %q: PostgreSQL's jsonb refuses it: %w", projection.ErrInvalidDocument, id, err)
	}
	return s.dbError(ctx, "writing document "+id+" of "+name, err)
}

// txState follows a transaction the store runs, for what to do once it
// commits: register the collections and the indexes it created or found.
type txState struct {
	tx      pgx.Tx
	created []string
	indexed []indexKey
	// docs, when set, is the transaction's document store, which defers
	// its writes to commit (see deferWrites).
	docs *docTx
}

// deferWrites makes the documents of st's transaction (an append's, whose
// inline projections lock the rows they read) queue their writes, to be
// sent with the COMMIT in one round trip (see commit): an inline
// projection then costs no round trip for its writes. It returns the
// transaction to give the hooks: st's, sending the queued writes before
// any statement of theirs, so that they see them.
func (s *Store) deferWrites(st *txState) pgx.Tx {
	st.docs = &docTx{s: s, tx: st.tx, state: st, lockReads: true, deferred: true}
	st.tx = orderedTx{Tx: st.tx, docs: st.docs}
	return st.tx
}

// commit commits st's transaction, in one round trip with the writes its
// documents queued, and tells what is known of it when it fails: when a
// queued write failed, the COMMIT did not run, and the transaction is
// rolled back.
func (st *txState) commit(ctx context.Context, tx pgx.Tx) (written, error) {
	t := st.docs
	if t == nil || (len(t.pending) == 0 && t.err == nil) {
		err := tx.Commit(ctx)
		return outcome(err, true), err
	}
	err := t.err
	if err == nil {
		b := t.batch()
		b.Queue("commit")
		if err = tx.SendBatch(ctx, b).Close(); err == nil {
			return 0, nil
		}
		if pc := tx.Conn().PgConn(); pc.TxStatus() == 'I' || pc.IsClosed() {
			// The COMMIT ran, and failed; or the connection broke, maybe
			// after the server committed (its status is as it was last
			// told).
			return outcome(err, true), err
		}
		err = t.writeFailed(ctx, err)
	}
	_ = tx.Rollback(context.WithoutCancel(ctx))
	return notWritten, err
}

// orderedTx is a transaction whose documents defer their writes (see
// deferWrites), as hooks and projections see it (Unwrap): it sends the
// queued writes before each statement of theirs. A write that fails
// aborts the transaction, so the statement fails too, and the commit
// returns the write's error.
type orderedTx struct {
	pgx.Tx
	docs *docTx
}

func (o orderedTx) Begin(ctx context.Context) (pgx.Tx, error) {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.Begin(ctx)
}

func (o orderedTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.CopyFrom(ctx, table, columns, src)
}

func (o orderedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.SendBatch(ctx, b)
}

func (o orderedTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.Prepare(ctx, name, sql)
}

func (o orderedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.Exec(ctx, sql, args...)
}

func (o orderedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.Query(ctx, sql, args...)
}

func (o orderedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	_ = o.docs.beforeStatement(ctx)
	return o.Tx.QueryRow(ctx, sql, args...)
}

// LargeObjects and Conn reach the connection without a context: the
// writes are sent first, uncancellable.
func (o orderedTx) LargeObjects() pgx.LargeObjects {
	_ = o.docs.beforeStatement(context.Background())
	return o.Tx.LargeObjects()
}

func (o orderedTx) Conn() *pgx.Conn {
	_ = o.docs.beforeStatement(context.Background())
	return o.Tx.Conn()
}

type txStateKey struct{}

// docTx is the document store bound to a transaction: an append's (inline
// projections), a processor's Commit, or one of the application's
// (AppendToStreamTx).
type docTx struct {
	s  *Store
	tx pgx.Tx
	// state is the transaction's, when the store runs it: the collections
	// created in it are registered if it commits. Nil in a transaction of
	// the application's, whose commit the store does not see: there a
	// collection the store does not know is checked (and created if need
	// be) in every transaction that uses it.
	state   *txState
	ensured map[string]bool
	indexed map[indexKey]bool // the indexes ensured in the transaction
	// A document the transaction reads and writes back is written only if
	// no other transaction wrote it in between (no write is lost): read
	// holds the _version Get read (0 for a missing document), which Put
	// checks. With lockReads, Get also locks the row, so that concurrent
	// transactions take turns rather than fail (appends, whose inline
	// projections run concurrently); without (a processor's transaction,
	// whose documents have no other writer as a rule), a conflict fails the
	// transaction, to be tried again.
	lockReads bool
	read      map[docKey]int64
	// deferred: Put and Delete queue their statements in pending (see
	// deferWrites), and written holds what they wrote (nil for deleted),
	// which Get answers from; err is the error of queued writes that
	// failed, returned again by every flush.
	deferred bool
	pending  []queuedWrite
	written  map[docKey][]byte
	err      error
	// prefetched holds the documents read, locked, with the append (see
	// prefetch.go), which Get answers from.
	prefetched map[docKey]prefetchedDoc
}

type docKey struct{ collection, id string }

// queuedWrite is a deferred write's statement.
type queuedWrite struct {
	sql  string
	args []any
}

// queue queues a write of the document key (data, or nil for a delete).
func (t *docTx) queue(key docKey, data []byte, sql string, args ...any) {
	t.pending = append(t.pending, queuedWrite{sql, args})
	if t.written == nil {
		t.written = map[docKey][]byte{}
	}
	t.written[key] = data
}

// batch returns the queued writes as a batch, and empties the queue.
func (t *docTx) batch() *pgx.Batch {
	b := &pgx.Batch{}
	for _, w := range t.pending {
		b.Queue(w.sql, w.args...)
	}
	t.pending = t.pending[:0]
	return b
}

// flush sends the queued writes, in one round trip.
func (t *docTx) flush(ctx context.Context) error {
	if t.err != nil || len(t.pending) == 0 {
		return t.err
	}
	if err := t.tx.SendBatch(ctx, t.batch()).Close(); err != nil {
		t.err = t.writeFailed(ctx, err)
	}
	return t.err
}

// writeFailed is the error of queued writes that failed: a document
// inserted by a concurrent transaction since this one read it as missing
// (the whole transaction may be tried again), a collection dropped
// meanwhile, or a document PostgreSQL's jsonb refuses.
func (t *docTx) writeFailed(ctx context.Context, err error) error {
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("postgres: writing documents: %w: %w", errDocumentChanged, err)
	case isUndefinedTable(err):
		for key := range t.written {
			t.s.docs.forget(key.collection)
		}
		return fmt.Errorf("postgres: writing documents: %w: %w", errCollectionGone, err)
	}
	if pgErr := pgError(err); pgErr != nil && strings.HasPrefix(pgErr.Code, "22") {
		return fmt.Errorf("%w: PostgreSQL's jsonb refuses one: %w", projection.ErrInvalidDocument, err)
	}
	return t.s.dbError(ctx, "writing documents", err)
}

// docTx returns the document store bound to a transaction; ctx tells
// whether the store runs it (see txState); lockReads, whether Get locks the
// rows it reads (see docTx).
func (s *Store) docTx(ctx context.Context, tx pgx.Tx, lockReads bool) *docTx {
	st, _ := ctx.Value(txStateKey{}).(*txState)
	if st != nil && st.tx != tx {
		st = nil
	}
	if st != nil && st.docs != nil {
		return st.docs
	}
	return &docTx{s: s, tx: tx, state: st, lockReads: lockReads}
}

// newTx returns the projection.Tx of a transaction (see docTx): its
// Documents are the documents as the transaction sees them, whose writes
// commit or roll back with it; Unwrap returns the pgx.Tx, for projections
// that write tables of their own.
func (s *Store) newTx(ctx context.Context, tx pgx.Tx, lockReads bool) projection.Tx {
	return backend.NewTx(s.docTx(ctx, tx, lockReads), tx)
}

// remember records the _version of a document as the transaction knows it.
func (t *docTx) remember(key docKey, version int64) {
	if t.read == nil {
		t.read = map[docKey]int64{}
	}
	t.read[key] = version
}

// ensure makes sure the collection's table exists in the transaction,
// creating it if need be.
func (t *docTx) ensure(ctx context.Context, name string) error {
	if t.ensured[name] || t.s.docs.has(name) {
		return nil
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	if err := t.s.createCollection(ctx, t.tx, name); err != nil {
		return err
	}
	if t.ensured == nil {
		t.ensured = map[string]bool{}
	}
	t.ensured[name] = true
	if t.state != nil {
		t.state.created = append(t.state.created, name)
	}
	return nil
}

// EnsureIndex implements projection.DocumentStore: it creates the
// collection if need be, and the index on the field at path (see
// createIndexSQL), or its GIN index for projection.ContainsIndex
// (createDataIndexSQL), unless it is there. Like a collection, an index
// is only looked up in the catalog when it is there (DDL would lock the
// table against writers until the transaction ends), and its creators
// queue on the collection's advisory lock.
func (t *docTx) EnsureIndex(ctx context.Context, name, path string) error {
	if err := t.prepare(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateIndexPath(path); err != nil {
		return err
	}
	key := indexKey{name, path}
	if t.indexed[key] || t.s.docs.hasIndex(key) {
		return nil
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	var exists bool
	index, create := indexName(name, path)
	if err := t.tx.QueryRow(ctx, indexExistsSQL, `"`+index+`"`, `"`+name+`"`).Scan(&exists); err != nil {
		return t.failed(ctx, name, "checking the index on "+path+" of "+name, err)
	}
	if !exists {
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "emt_collection:"+name)
		b.Queue(create)
		b.Queue(indexExistsSQL, `"`+index+`"`, `"`+name+`"`).QueryRow(func(row pgx.Row) error { return row.Scan(&exists) })
		if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
			return t.failed(ctx, name, "creating the index on "+path+" of "+name, err)
		}
		if !exists { // CREATE INDEX IF NOT EXISTS found another relation of its name
			return fmt.Errorf("postgres: creating the index on %s of %s: a relation named %q exists and is not an index of %s", path, name, index, name)
		}
	}
	if t.indexed == nil {
		t.indexed = map[indexKey]bool{}
	}
	t.indexed[key] = true
	if t.state != nil {
		t.state.indexed = append(t.state.indexed, key)
	}
	return nil
}

// failed wraps the error of a statement on a collection in the
// transaction.
func (t *docTx) failed(ctx context.Context, name, doing string, err error) error {
	if isUndefinedTable(err) {
		t.s.docs.forget(name)
		delete(t.ensured, name)
		maps.DeleteFunc(t.prefetched, func(key docKey, _ prefetchedDoc) bool { return key.collection == name })
		maps.DeleteFunc(t.indexed, func(key indexKey, _ bool) bool { return key.collection == name })
		return fmt.Errorf("postgres: %s: %w: %w", doing, errCollectionGone, err)
	}
	return t.s.dbError(ctx, doing, err)
}

func (t *docTx) prepare(ctx context.Context, name string) error {
	if err := t.s.checkDoc(ctx, name); err != nil {
		return err
	}
	return t.ensure(ctx, name)
}

// Get implements projection.DocumentStore.
func (t *docTx) Get(ctx context.Context, name, id string) ([]byte, bool, error) {
	if err := projection.ValidateDocumentID(id); err != nil {
		return nil, false, err
	}
	if err := t.prepare(ctx, name); err != nil {
		return nil, false, err
	}
	if data, ok := t.written[docKey{name, id}]; ok { // queued (see deferWrites)
		return data, data != nil, nil
	}
	if doc, ok := t.prefetched[docKey{name, id}]; ok { // read with the append
		t.remember(docKey{name, id}, doc.version)
		return doc.data, doc.found, nil
	}
	query := getDocVersionSQL(name)
	if t.lockReads {
		query = getDocForUpdateSQL(name)
	}
	var data []byte
	var version int64
	err := t.tx.QueryRow(ctx, query, id).Scan(&data, &version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		t.remember(docKey{name, id}, 0)
		return nil, false, nil
	case err != nil:
		return nil, false, t.failed(ctx, name, "reading document "+id+" of "+name, err)
	}
	t.remember(docKey{name, id}, version)
	return data, true, nil
}

// Put implements projection.DocumentStore.
func (t *docTx) Put(ctx context.Context, name, id string, data []byte) error {
	if err := projection.ValidateDocument(id, data); err != nil {
		return err
	}
	if err := t.prepare(ctx, name); err != nil {
		return err
	}
	key := docKey{name, id}
	version, read := t.read[key]
	if t.deferred {
		// Queued: the row read is locked (lockReads) until the commit,
		// so the update finds the version read; a row read as missing
		// and inserted meanwhile fails the insert (see writeFailed).
		switch {
		case !read:
			t.queue(key, data, putDocSQL(name), id, data)
		case version == 0:
			t.queue(key, data, insertNewDocSQL(name), id, data)
		default:
			t.queue(key, data, updateDocSQL(name), id, data, version)
		}
		if read {
			t.remember(key, version+1)
		}
		return nil
	}
	var tag pgconn.CommandTag
	var err error
	switch {
	case !read: // a blind write
		tag, err = t.tx.Exec(ctx, putDocSQL(name), id, data)
	case version == 0:
		tag, err = t.tx.Exec(ctx, insertDocSQL(name), id, data)
	default:
		tag, err = t.tx.Exec(ctx, updateDocSQL(name), id, data, version)
	}
	switch {
	case isUndefinedTable(err):
		return t.failed(ctx, name, "writing document "+id+" of "+name, err)
	case err != nil:
		return t.s.putError(ctx, name, id, err)
	case tag.RowsAffected() == 0:
		return fmt.Errorf("postgres: writing document %q of %s: %w", id, name, errDocumentChanged)
	}
	if read {
		t.remember(key, version+1)
	}
	return nil
}

// Delete implements projection.DocumentStore.
func (t *docTx) Delete(ctx context.Context, name, id string) error {
	if err := projection.ValidateDocumentID(id); err != nil {
		return err
	}
	if err := t.prepare(ctx, name); err != nil {
		return err
	}
	if t.deferred {
		t.queue(docKey{name, id}, nil, deleteDocSQL(name), id)
	} else if _, err := t.tx.Exec(ctx, deleteDocSQL(name), id); err != nil {
		return t.failed(ctx, name, "deleting document "+id+" of "+name, err)
	}
	delete(t.read, docKey{name, id})
	return nil
}

// DeleteAll implements projection.DocumentStore.
func (t *docTx) DeleteAll(ctx context.Context, name string) error {
	if err := t.prepare(ctx, name); err != nil {
		return err
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	if _, err := t.tx.Exec(ctx, deleteAllDocsSQL(name)); err != nil {
		return t.failed(ctx, name, "deleting the documents of "+name, err)
	}
	inCollection := func(key docKey) bool { return key.collection == name }
	maps.DeleteFunc(t.read, func(key docKey, _ int64) bool { return inCollection(key) })
	maps.DeleteFunc(t.written, func(key docKey, _ []byte) bool { return inCollection(key) })
	maps.DeleteFunc(t.prefetched, func(key docKey, _ prefetchedDoc) bool { return inCollection(key) })
	return nil
}

// beforeStatement readies the transaction for a statement of a hook's or
// a projection's own (see orderedTx): it sends the queued writes, and
// forgets the documents read with the append, which the statement may
// change.
func (t *docTx) beforeStatement(ctx context.Context) error {
	t.prefetched = nil
	return t.flush(ctx)
}

// Find implements projection.DocumentStore.
func (t *docTx) Find(ctx context.Context, name string, q projection.Query) iter.Seq2[projection.Document, error] {
	return func(yield func(projection.Document, error) bool) {
		if err := t.prepare(ctx, name); err != nil {
			yield(projection.Document{}, err)
			return
		}
		if err := t.flush(ctx); err != nil {
			yield(projection.Document{}, err)
			return
		}
		err := t.s.find(ctx, t.tx, name, q, yield)
		if err != nil {
			yield(projection.Document{}, t.failed(ctx, name, "querying "+name, err))
		}
	}
}

// Count implements projection.DocumentStore.
func (t *docTx) Count(ctx context.Context, name string, q projection.Query) (int64, error) {
	if err := t.prepare(ctx, name); err != nil {
		return 0, err
	}
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	n, err := t.s.count(ctx, t.tx, name, q)
	if err != nil {
		return 0, t.failed(ctx, name, "counting "+name, err)
	}
	return n, nil
}

// Documents returns the store's document collections, for reading read
// models (and writing documents outside any projection). Reads see what is
// committed; each write outside a projection's transaction is a
// transaction of its own.
//
// Each collection is a table of its own, named after it, with the layout of
// Pongo, the document store of Emmett for Node, created on first use:
//
//	_id TEXT PRIMARY KEY, data JSONB NOT NULL, metadata JSONB NOT NULL DEFAULT '{}',
//	_version BIGINT NOT NULL DEFAULT 1, _partition TEXT NOT NULL DEFAULT 'png_global',
//	_archived BOOLEAN NOT NULL DEFAULT FALSE, _created TIMESTAMPTZ, _updated TIMESTAMPTZ
//
// and, as in Pongo, no index but the primary key unless one is declared:
// an index on a field (projection.WithIndexes, EnsureIndex), or the GIN
// index on data (jsonb_path_ops) that serves Contains,
// projection.ContainsIndex, <name>_data_idx. A declared index is created
// in the transaction of the store's first use of it, which locks the table
// against writes while it builds: on a large table, create it beforehand
// (CREATE INDEX CONCURRENTLY, with its name). data holds
// the document as jsonb, so SQL can query it (SELECT data->>'total' FROM
// carts); _version counts the writes of a document. The document is stored
// as it was given: unlike Pongo, the store does not copy _id and _version
// into it (as the SQLite store does not). As jsonb, a document
// reads back equal as JSON, not byte for byte: keys are sorted and
// deduplicated (the last one wins, as in Go), whitespace goes, numbers keep
// their decimal value. jsonb refuses a string with \u0000 in it: Put
// refuses it before it reaches the database, as every store does (see
// projection.ValidateDocument), with an error matching
// projection.ErrInvalidDocument. Collection names
// are plain identifiers (see projection.ValidateCollection), and may not
// start with "emt_", "dmb_" or "pg_".
//
// EnsureIndex (which a projection declaring WithIndexes calls) adds a
// btree index on the field's jsonb, ((data -> 'a'::text) -> 'b'::text),
// named "<collection>:<path>" (cut short, with a hash, past 63 bytes); Eq
// on the field writes that very expression, so that the planner looks the
// documents up in the index. It is created in a transaction, like the
// table: on a large table, create it beforehand (CREATE INDEX
// CONCURRENTLY, with the same name and expression).
//
// Queries run in SQL (see planQuery for how each condition is written and
// which use the indexes) and return exactly what backend.Match selects.
// Documents are returned in id order, byte by byte as Go compares strings
// (the primary key's order when the database's collation is C or
// C.UTF-8, a sort otherwise), a page at a time, so that no connection is
// held while the caller's loop runs.
func (s *Store) Documents() projection.DocumentStore { return storeDocs{s} }

type storeDocs struct{ s *Store }

// Get implements projection.DocumentStore.
func (d storeDocs) Get(ctx context.Context, name, id string) ([]byte, bool, error) {
	s := d.s
	if err := s.checkDoc(ctx, name); err != nil {
		return nil, false, err
	}
	if err := projection.ValidateDocumentID(id); err != nil {
		return nil, false, err
	}
	var data []byte
	err := s.pool.QueryRow(ctx, getDocSQL(name), id).Scan(&data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, false, nil
	case isUndefinedTable(err): // nothing was written to it yet
		s.docs.forget(name)
		return nil, false, nil
	case err != nil:
		return nil, false, s.dbError(ctx, "reading document "+id+" of "+name, err)
	}
	return data, true, nil
}

// Put implements projection.DocumentStore.
func (d storeDocs) Put(ctx context.Context, name, id string, data []byte) error {
	s := d.s
	if err := s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateDocument(id, data); err != nil {
		return err
	}
	if s.docs.has(name) {
		_, err := s.pool.Exec(ctx, putDocSQL(name), id, data)
		if err == nil {
			return nil
		}
		if !isUndefinedTable(err) {
			return s.putError(ctx, name, id, err)
		}
		s.docs.forget(name) // dropped behind our back: create it again
	}
	return s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return s.docTx(ctx, tx, false).Put(ctx, name, id, data)
	})
}

// Delete implements projection.DocumentStore.
func (d storeDocs) Delete(ctx context.Context, name, id string) error {
	if err := d.s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateDocumentID(id); err != nil {
		return err
	}
	return d.exec(ctx, name, deleteDocSQL(name), id)
}

// DeleteAll implements projection.DocumentStore.
func (d storeDocs) DeleteAll(ctx context.Context, name string) error {
	return d.exec(ctx, name, deleteAllDocsSQL(name))
}

// exec runs a delete on a collection; a collection that does not exist has
// nothing to delete, and a table that is not a collection is left alone.
func (d storeDocs) exec(ctx context.Context, name, sql string, args ...any) error {
	s := d.s
	if err := s.checkDoc(ctx, name); err != nil {
		return err
	}
	if !s.docs.has(name) {
		exists, err := s.checkCollection(ctx, name)
		if err != nil || !exists {
			return err
		}
	}
	_, err := s.pool.Exec(ctx, sql, args...)
	switch {
	case isUndefinedTable(err):
		s.docs.forget(name)
		return nil
	case err != nil:
		return s.dbError(ctx, "deleting from "+name, err)
	}
	return nil
}

// EnsureIndex implements projection.DocumentStore: once the store knows
// the index is there, it returns at once; otherwise it creates what is
// missing in a transaction (see docTx.EnsureIndex).
func (d storeDocs) EnsureIndex(ctx context.Context, name, path string) error {
	s := d.s
	if err := s.checkDoc(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateIndexPath(path); err != nil {
		return err
	}
	if s.docs.hasIndex(indexKey{name, path}) {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return s.docTx(ctx, tx, false).EnsureIndex(ctx, name, path)
	})
}

// Find implements projection.DocumentStore.
func (d storeDocs) Find(ctx context.Context, name string, q projection.Query) iter.Seq2[projection.Document, error] {
	return func(yield func(projection.Document, error) bool) {
		s := d.s
		if err := s.checkDoc(ctx, name); err != nil {
			yield(projection.Document{}, err)
			return
		}
		err := s.find(ctx, s.pool, name, q, yield)
		switch {
		case isUndefinedTable(err): // nothing was written to it yet
			s.docs.forget(name)
		case err != nil:
			yield(projection.Document{}, s.dbError(ctx, "querying "+name, err))
		}
	}
}

// Count implements projection.DocumentStore.
func (d storeDocs) Count(ctx context.Context, name string, q projection.Query) (int64, error) {
	s := d.s
	if err := s.checkDoc(ctx, name); err != nil {
		return 0, err
	}
	n, err := s.count(ctx, s.pool, name, q)
	switch {
	case isUndefinedTable(err):
		s.docs.forget(name)
		return 0, nil
	case err != nil:
		return 0, s.dbError(ctx, "counting "+name, err)
	}
	return n, nil
}

// find yields the documents of a collection that match q, in id order, a
// page at a time (keyset pagination on _id). It returns the database's
// error (undecorated, for the caller to tell a missing table); errors of
// q or of Match are yielded.
func (s *Store) find(ctx context.Context, db dbtx, name string, q projection.Query, yield func(projection.Document, error) bool) error {
	plan, err := planQuery(q)
	if err != nil {
		yield(projection.Document{}, err)
		return nil
	}
	id := s.idOrder()
	return docsql.Find(ctx, "postgres", name, q.Limit, plan.InGo, func(page []projection.Document, after string, first bool, limit int) ([]projection.Document, error) {
		query, args := pageSQL(name, plan, id, after, first, limit)
		return findPage(ctx, db, query, args, page)
	}, yield)
}

// pageSQL is the query of a page of Find: the documents matching the plan,
// after the id after unless first, in id order (id is the ordering
// expression).
func pageSQL(name string, plan docsql.Plan, id, after string, first bool, limit int) (string, []any) {
	args := append(make([]any, 0, len(plan.Args)+2), plan.Args...)
	var sb strings.Builder
	sb.WriteString(`SELECT d._id, d.data FROM "` + name + `" AS d WHERE TRUE`)
	sb.WriteString(plan.Where)
	if !first {
		args = append(args, after)
		fmt.Fprintf(&sb, " AND %s > $%d", id, len(args))
	}
	args = append(args, limit)
	fmt.Fprintf(&sb, " ORDER BY %s LIMIT $%d", id, len(args))
	return sb.String(), args
}

func findPage(ctx context.Context, db dbtx, query string, args []any, page []projection.Document) ([]projection.Document, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	return docsql.ScanPage(rows, page)
}

// count counts the documents of a collection that match q.
func (s *Store) count(ctx context.Context, db dbtx, name string, q projection.Query) (int64, error) {
	q.Limit = 0
	plan, err := planQuery(q)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(plan.InGo.Conditions) > 0 {
		return docsql.Count(func(yield func(projection.Document, error) bool) error {
			return s.find(ctx, db, name, q, yield)
		})
	}
	var n int64
	err = db.QueryRow(ctx, `SELECT count(*) FROM "`+name+`" AS d WHERE TRUE`+plan.Where, plan.Args...).Scan(&n)
	return n, err
}

// idOrder is the expression documents are ordered by: _id, in byte order.
func (s *Store) idOrder() string {
	if s.byteOrder {
		return "d._id"
	}
	return `d._id COLLATE "C"`
}

// byteOrderSQL tells whether the database's default collation orders text
// byte by byte (C, POSIX, C.UTF-8), so that the primary key on _id gives
// documents in Go's string order.
// (The builtin provider of PostgreSQL 17 orders by code point, which is
// byte order in UTF-8; ICU never does.)
const byteOrderSQL = `SELECT CASE coalesce(to_jsonb(d) ->> 'datlocprovider', 'c')
  WHEN 'b' THEN TRUE
  WHEN 'c' THEN datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')
  ELSE FALSE END
FROM pg_database AS d WHERE datname = current_database()`

// inTx runs fn in a transaction of the store's and commits it, registering
// the collections it created.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.dbError(ctx, "beginning a transaction", err)
	}
	st := &txState{tx: tx}
	if err := fn(context.WithValue(ctx, txStateKey{}, st), tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("%w (%w)", cerr, err)
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if ctx.Err() == nil && outcome(err, true) == unknown {
			return fmt.Errorf("postgres: committing: %w (%w)", err, eventstore.ErrOutcomeUnknown)
		}
		return s.dbError(ctx, "committing", err)
	}
	s.docs.commit(st)
	return nil
}
