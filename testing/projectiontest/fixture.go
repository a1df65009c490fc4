package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// Event is the suite's event family.
type Event interface{ isEvent() }

// Incremented adds to a counter and to its group's total.
type Incremented struct {
	By    int    `json:"by"`
	Group string `json:"group"`
}

// Tagged adds a tag to a counter.
type Tagged struct {
	Tag string `json:"tag"`
}

// Removed deletes a counter's document.
type Removed struct{}

// Poisoned makes the failing projection fail.
type Poisoned struct{}

func (Incremented) isEvent() {}
func (Tagged) isEvent()      {}
func (Removed) isEvent()     {}
func (Poisoned) isEvent()    {}

// Events is the registry of the suite's events.
var Events = emmett.NewEvents[Event](Incremented{}, Tagged{}, Removed{}, Poisoned{})

// Counter is the document of the counters projection: one per stream.
type Counter struct {
	Total  int      `json:"total"`
	Count  int      `json:"count"`
	Tags   []string `json:"tags,omitempty"`
	Group  Group    `json:"group"`
	Active bool     `json:"active"`
	// Shape is 2 in the documents of version 2 (CountersV2).
	Shape int `json:"shape,omitempty"`
}

// Group nests a field, for queries on paths.
type Group struct {
	Name string `json:"name"`
}

// GroupTotal is the document of the group totals projection: one per group,
// across streams.
type GroupTotal struct {
	Group  string `json:"group"`
	Total  int    `json:"total"`
	Events int    `json:"events"`
}

func evolveCounter(doc *Counter, e emmett.Recorded[Event]) *Counter {
	switch ev := e.Event.(type) {
	case Incremented:
		if doc == nil {
			doc = &Counter{Active: true}
		}
		doc.Total += ev.By
		doc.Count++
		doc.Group.Name = ev.Group
	case Tagged:
		if doc == nil {
			doc = &Counter{Active: true}
		}
		doc.Tags = append(doc.Tags, ev.Tag)
	case Removed:
		return nil
	}
	return doc
}

// Counters returns the single-stream projection of counters, with more
// options if given (WithIndexes).
func Counters(collection string, opts ...projection.DocumentOption) *projection.DocumentProjection[Counter, Event] {
	return projection.SingleStream("counters", emmett.NewEvents[Event](Incremented{}, Tagged{}, Removed{}), evolveCounter,
		append([]projection.DocumentOption{projection.WithCollection(collection)}, opts...)...)
}

// GroupTotals returns the multi-stream projection of group totals.
func GroupTotals(collection string) *projection.DocumentProjection[GroupTotal, Event] {
	return projection.MultiStream("group_totals", emmett.NewEvents[Event](Incremented{}),
		func(e emmett.Recorded[Event]) []string { return []string{e.Event.(Incremented).Group} },
		func(doc *GroupTotal, e emmett.Recorded[Event]) *GroupTotal {
			inc := e.Event.(Incremented)
			if doc == nil {
				doc = &GroupTotal{Group: inc.Group}
			}
			doc.Total += inc.By
			doc.Events++
			return doc
		}, projection.WithCollection(collection))
}

// errPoisoned is what the failing projection returns.
var errPoisoned = errors.New("poisoned event")

// Failing returns a custom projection that writes a marker document per
// event it handles and fails on Poisoned events (on every attempt, or only
// on the first failFirst attempts when failFirst > 0).
func Failing(collection string, failFirst int) projection.Projection {
	attempts := 0
	return projection.Custom("failing", Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[Event]) error {
			for _, e := range events {
				if _, ok := e.Event.(Poisoned); ok {
					attempts++
					if failFirst == 0 || attempts <= failFirst {
						return fmt.Errorf("%w at stream position %d", errPoisoned, e.StreamPosition)
					}
				}
				if err := tx.Documents().Put(ctx, collection, e.MessageID, []byte(`{"seen":true}`)); err != nil {
					return err
				}
			}
			return nil
		},
		func(ctx context.Context, tx projection.Tx) error { return tx.Documents().DeleteAll(ctx, collection) })
}

// Append appends the suite's events to a stream, and requires it to
// succeed.
func Append(t testing.TB, s eventstore.Store, stream string, evs ...Event) eventstore.AppendResult {
	t.Helper()
	data, err := eventstore.Encode(Events, evs, emmett.Metadata{})
	require.NoError(t, err)
	res, err := s.AppendToStream(background(t), stream, data)
	require.NoError(t, err)
	return res
}

// RequireCountersMatchReplay requires the documents of a Counters
// projection in collection to equal a fold of b's whole log (the way the
// projection folds it, without the store's projection machinery), and the
// log to have counters.
func RequireCountersMatchReplay(t testing.TB, b Backend, collection string) {
	t.Helper()
	want := expectedCounters(t, b)
	require.NotEmpty(t, want, "the log has counters")
	got := allDocuments[Counter](t, b.Documents(), collection)
	require.Equal(t, want, got, "documents equal a fresh replay of the log")
}

// expectedCounters folds the whole log the way the counters projection
// does, without the store's projection machinery: the oracle.
func expectedCounters(t testing.TB, s eventstore.Store) map[string]Counter {
	t.Helper()
	docs := map[string]*Counter{}
	for rec, err := range s.ReadAll(background(t), eventstore.Position{}) {
		require.NoError(t, err)
		if !slices.Contains([]string{"Incremented", "Tagged", "Removed"}, rec.Type) {
			continue
		}
		typed, err := Events.DecodeRecorded(rec)
		require.NoError(t, err)
		docs[rec.StreamName] = evolveCounter(docs[rec.StreamName], typed)
	}
	out := map[string]Counter{}
	for id, d := range docs {
		if d != nil {
			out[id] = *d
		}
	}
	return out
}

// allDocuments reads a whole collection.
func allDocuments[T any](t testing.TB, docs projection.DocumentStore, collection string) map[string]T {
	t.Helper()
	out := map[string]T{}
	c := projection.NewCollection[T](docs, collection)
	for d, err := range docs.Find(background(t), collection, projection.Query{}) {
		require.NoError(t, err)
		v, found, err := c.Get(background(t), d.ID)
		require.NoError(t, err)
		require.True(t, found)
		out[d.ID] = v
	}
	return out
}
