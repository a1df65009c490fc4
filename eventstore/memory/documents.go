package memory

import (
	"context"
	"iter"
	"maps"
	"slices"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// collection is a committed document collection.
type collection map[string][]byte

// memTx stages document changes over the committed ones; commit applies
// them. Its owner holds the store's write lock throughout.
type memTx struct {
	s      *Store
	staged map[string]*stagedCollection
}

type stagedCollection struct {
	cleared bool
	docs    map[string][]byte // nil value: deleted
}

func newTx(s *Store) *memTx { return &memTx{s: s, staged: map[string]*stagedCollection{}} }

// projectionTx returns the projection.Tx of the transaction (Unwrap gives
// nil: there is no transaction of a database underneath).
func (tx *memTx) projectionTx() projection.Tx { return backend.NewTx(txDocs{tx}, nil) }

func (tx *memTx) stage(name string) *stagedCollection {
	sc := tx.staged[name]
	if sc == nil {
		sc = &stagedCollection{docs: map[string][]byte{}}
		tx.staged[name] = sc
	}
	return sc
}

func (tx *memTx) get(name, id string) ([]byte, bool) {
	if sc := tx.staged[name]; sc != nil {
		if d, ok := sc.docs[id]; ok {
			return d, d != nil
		}
		if sc.cleared {
			return nil, false
		}
	}
	d, ok := tx.s.docs[name][id]
	return d, ok
}

// snapshot returns the collection as the transaction sees it.
func (tx *memTx) snapshot(name string) map[string][]byte {
	out := map[string][]byte{}
	sc := tx.staged[name]
	if sc == nil || !sc.cleared {
		maps.Copy(out, tx.s.docs[name])
	}
	if sc != nil {
		for id, d := range sc.docs {
			if d == nil {
				delete(out, id)
			} else {
				out[id] = d
			}
		}
	}
	return out
}

func (tx *memTx) commit() {
	for name, sc := range tx.staged {
		c := tx.s.docs[name]
		if c == nil || sc.cleared {
			c = collection{}
			tx.s.docs[name] = c
		}
		for id, d := range sc.docs {
			if d == nil {
				delete(c, id)
			} else {
				c[id] = d
			}
		}
	}
}

type txDocs struct{ tx *memTx }

func (d txDocs) Get(ctx context.Context, name, id string) ([]byte, bool, error) {
	if err := check(ctx, name); err != nil {
		return nil, false, err
	}
	if err := projection.ValidateDocumentID(id); err != nil {
		return nil, false, err
	}
	data, ok := d.tx.get(name, id)
	return data, ok, nil
}

func (d txDocs) Put(ctx context.Context, name, id string, data []byte) error {
	if err := check(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateDocument(id, data); err != nil {
		return err
	}
	d.tx.stage(name).docs[id] = slices.Clone(data)
	return nil
}

func (d txDocs) Delete(ctx context.Context, name, id string) error {
	if err := check(ctx, name); err != nil {
		return err
	}
	if err := projection.ValidateDocumentID(id); err != nil {
		return err
	}
	d.tx.stage(name).docs[id] = nil
	return nil
}

func (d txDocs) DeleteAll(ctx context.Context, name string) error {
	if err := check(ctx, name); err != nil {
		return err
	}
	sc := d.tx.stage(name)
	sc.cleared = true
	clear(sc.docs)
	return nil
}

// EnsureIndex implements projection.DocumentStore: the in-memory store has
// no indexes (every query reads the whole collection), so it checks its
// arguments and does nothing else.
func (d txDocs) EnsureIndex(ctx context.Context, name, path string) error {
	if err := check(ctx, name); err != nil {
		return err
	}
	return projection.ValidateIndexPath(path)
}

func (d txDocs) find(ctx context.Context, name string, q projection.Query) ([]projection.Document, error) {
	if err := check(ctx, name); err != nil {
		return nil, err
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	all := d.tx.snapshot(name)
	var out []projection.Document
	for _, id := range slices.Sorted(maps.Keys(all)) {
		ok, err := backend.Match(all[id], q)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, projection.Document{ID: id, Data: all[id]})
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

func (d txDocs) Find(ctx context.Context, name string, q projection.Query) iter.Seq2[projection.Document, error] {
	docs, err := d.find(ctx, name, q)
	return seq(docs, err)
}

// seq yields docs, or err.
func seq(docs []projection.Document, err error) iter.Seq2[projection.Document, error] {
	return func(yield func(projection.Document, error) bool) {
		if err != nil {
			yield(projection.Document{}, err)
			return
		}
		for _, doc := range docs {
			if !yield(doc, nil) {
				return
			}
		}
	}
}

func (d txDocs) Count(ctx context.Context, name string, q projection.Query) (int64, error) {
	q.Limit = 0
	docs, err := d.find(ctx, name, q)
	return int64(len(docs)), err
}

func check(ctx context.Context, collection string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return projection.ValidateCollection(collection)
}

// Documents returns the store's document store. Each call outside a
// transaction commits on its own.
func (s *Store) Documents() projection.DocumentStore { return storeDocs{s} }

type storeDocs struct{ s *Store }

// within runs fn in a transaction of its own and commits it.
func (d storeDocs) within(write bool, fn func(txDocs) error) error {
	if write {
		d.s.mu.Lock()
		defer d.s.mu.Unlock()
	} else {
		d.s.mu.RLock()
		defer d.s.mu.RUnlock()
	}
	if d.s.closed {
		return eventstore.ErrClosed
	}
	tx := newTx(d.s)
	if err := fn(txDocs{tx}); err != nil {
		return err
	}
	if write {
		tx.commit()
	}
	return nil
}

func (d storeDocs) Get(ctx context.Context, name, id string) (data []byte, found bool, err error) {
	err = d.within(false, func(t txDocs) error {
		data, found, err = t.Get(ctx, name, id)
		return err
	})
	return data, found, err
}

func (d storeDocs) Put(ctx context.Context, name, id string, data []byte) error {
	return d.within(true, func(t txDocs) error { return t.Put(ctx, name, id, data) })
}

func (d storeDocs) Delete(ctx context.Context, name, id string) error {
	return d.within(true, func(t txDocs) error { return t.Delete(ctx, name, id) })
}

func (d storeDocs) DeleteAll(ctx context.Context, name string) error {
	return d.within(true, func(t txDocs) error { return t.DeleteAll(ctx, name) })
}

// EnsureIndex implements projection.DocumentStore: see txDocs.EnsureIndex.
func (d storeDocs) EnsureIndex(ctx context.Context, name, path string) error {
	return d.within(false, func(t txDocs) error { return t.EnsureIndex(ctx, name, path) })
}

func (d storeDocs) Find(ctx context.Context, name string, q projection.Query) iter.Seq2[projection.Document, error] {
	var docs []projection.Document
	err := d.within(false, func(t txDocs) (err error) {
		docs, err = t.find(ctx, name, q)
		return err
	})
	return seq(docs, err)
}

func (d storeDocs) Count(ctx context.Context, name string, q projection.Query) (n int64, err error) {
	err = d.within(false, func(t txDocs) (err error) {
		n, err = t.Count(ctx, name, q)
		return err
	})
	return n, err
}
