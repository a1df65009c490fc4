package postgres

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/projection"
	"github.com/jackc/pgx/v5"
)

// An append with inline projections runs in a transaction of its own
// (appendInNewTx). Its BEGIN (pgx's Batch.BeginTx), its statement and the
// reads of the documents its inline projections will read
// (projection.Prefetcher), locked as their Get would lock them, go to the
// server in one batch: one round trip where BEGIN, the append and one read
// per document took one each. The projections' reads are then answered
// from what the batch read, and their writes go with the COMMIT
// (deferWrites): an append that updates two read models costs two round
// trips.

// prefetchRead is a read of documents of a collection sent with an
// append.
type prefetchRead struct {
	collection string
	ids        []string
}

// prefetchedDoc is a document read with the append: its data and
// _version, or found false (and version 0) when there is none.
type prefetchedDoc struct {
	data    []byte
	version int64
	found   bool
}

// getDocsForUpdateSQL reads and locks the documents of a collection with
// n given ids, in id order (the order every transaction locks them in, see
// projection.DocumentProjection), and docsArgs are its arguments.
//
// The ids are parameters of their own ($1, or IN ($1, ..., $n)) up to
// maxListedIDs, and an array (= ANY($1)) beyond: PostgreSQL plans an
// array of unknown length as a long one, so that the generic plan of a
// statement on an array never looks cheaper than planning it anew, and a
// prepared statement on one was planned again on every execution (a
// custom plan: 6% of the server's time in the sample app's commands); a
// list of parameters gets its generic plan after five executions, as
// every other statement of an append. So that a collection has few such
// statements (each is prepared, and planned five times, on each
// connection), n is a power of two, the list filled up with its last id
// (see docsArgs): 7 statements per collection.
func getDocsForUpdateSQL(name string, n int) string {
	where := `_id = ANY($1)`
	if n <= maxListedIDs {
		where = idLists[bits.Len(uint(listedIDs(n)))-1]
	}
	return `SELECT _id, data, _version FROM "` + name + `" WHERE ` + where + ` ORDER BY _id FOR NO KEY UPDATE`
}

// maxListedIDs bounds the ids getDocsForUpdateSQL lists as parameters.
const maxListedIDs = 64

// idLists are the conditions getDocsForUpdateSQL lists ids with, by
// power of two: _id = $1, _id IN ($1, $2), ... up to maxListedIDs.
var idLists = func() []string {
	lists := []string{`_id = $1`}
	for n := 2; n <= maxListedIDs; n *= 2 {
		params := make([]string, n)
		for i := range params {
			params[i] = "$" + strconv.Itoa(i+1)
		}
		lists = append(lists, `_id IN (`+strings.Join(params, ", ")+`)`)
	}
	return lists
}()

// listedIDs is the number of parameters getDocsForUpdateSQL lists for n
// ids: the power of two at or above n.
func listedIDs(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// docsArgs returns the arguments of getDocsForUpdateSQL for ids (distinct,
// see mergeReads, and at least one, see prefetchPlan): the ids, the last
// repeated up to listedIDs; or the array of them.
func docsArgs(ids []string) []any {
	if len(ids) > maxListedIDs {
		return []any{ids}
	}
	args := make([]any, listedIDs(len(ids)))
	for i := range args {
		args[i] = ids[min(i, len(ids)-1)]
	}
	return args
}

// prefetchPlan returns the reads of documents the inline projections that
// are Prefetchers will make for c's events: only in collections the store
// knows to exist (a read of a missing table would abort the append's
// transaction), of valid ids. complete reports whether every inline
// projection that handles the events is such a Prefetcher, so that the
// reads are all the documents they will read (a group of appends needs
// it, see append_group.go).
func (s *Store) prefetchPlan(c *appendCall) (reads []prefetchRead, complete bool) {
	var events []emmett.RecordedEvent
	complete = true
	for _, r := range s.cfg.inline {
		for _, p := range r.projections {
			if events == nil {
				events = pendingEvents(c)
			}
			handled := backend.Filter(p, events)
			if len(handled) == 0 {
				continue
			}
			pf, ok := p.(projection.Prefetcher)
			if !ok {
				complete = false
				continue
			}
			collection, ids := pf.Prefetch(handled)
			if !s.docs.has(collection) {
				complete = false
				continue
			}
			ids = slices.DeleteFunc(ids, func(id string) bool { return projection.ValidateDocumentID(id) != nil })
			if len(ids) > 0 {
				reads = append(reads, prefetchRead{collection, ids})
			}
		}
	}
	// One read per collection, in the collections' order, as a group of
	// appends locks them (see append_group.go).
	return mergeReads(reads), complete
}

// pendingEvents returns c's events as far as they are known before the
// append: what a Prefetcher names documents from.
func pendingEvents(c *appendCall) []emmett.RecordedEvent {
	events := make([]emmett.RecordedEvent, len(c.prepared))
	for i, e := range c.prepared {
		events[i] = emmett.RecordedEvent{MessageID: e.MessageID, Type: e.Type, Data: e.Data,
			SchemaVersion: e.SchemaVersion, Metadata: e.Metadata, StreamName: c.stream}
	}
	return events
}

// queuePrefetch queues the reads in b, to fill into.
func queuePrefetch(b *pgx.Batch, reads []prefetchRead, into map[docKey]prefetchedDoc) {
	for _, rd := range reads {
		for _, id := range rd.ids {
			into[docKey{rd.collection, id}] = prefetchedDoc{}
		}
		b.Queue(getDocsForUpdateSQL(rd.collection, len(rd.ids)), docsArgs(rd.ids)...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var doc prefetchedDoc
				if err := rows.Scan(&id, &doc.data, &doc.version); err != nil {
					return err
				}
				doc.found = true
				into[docKey{rd.collection, id}] = doc
			}
			return rows.Err()
		})
	}
}
