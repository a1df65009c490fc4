package spec

import (
	"context"
	"fmt"
	"testing"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/require"
)

// DocumentsSpec is a spec for a document projection: Given events in
// streams, Then the documents it keeps.
//
//	spec.ForDocuments(t, cartDetails, cartEvents).
//		Given("shopping_cart-1", ProductItemAdded{...}, ShoppingCartConfirmed{...}).
//		Then(map[string]CartDetails{"shopping_cart-1": {...}})
//
// Then runs the projection three ways on in-memory stores: with each Given
// as its own batch (as inline projections see appends); with the whole
// history as a single batch on a fresh store (as a processor catching up
// sees it); and rebuilt on the store of the first run (Reset, then the
// whole history again, as Processor.ResetAndRebuild does over a live read model).
// Each must give the expected documents: a projection that keeps hidden
// state, reads the clock, mishandles a batch or leaves something behind a
// Reset fails.
type DocumentsSpec[D, E any] struct {
	t      testing.TB
	proj   *projection.DocumentProjection[D, E]
	events *emmett.Events[E]
	given  []givenStream[E]
}

type givenStream[E any] struct {
	stream string
	events []E
	stored []eventstore.EventData // GivenStored's
}

// ForDocuments starts a spec for a document projection; events encodes the
// given events (the family registry; the projection decodes them itself).
func ForDocuments[D, E any](t testing.TB, p *projection.DocumentProjection[D, E], events *emmett.Events[E]) *DocumentsSpec[D, E] {
	return &DocumentsSpec[D, E]{t: t, proj: p, events: events}
}

// Given appends events to a stream; call it again for more streams or more
// events, in order.
func (s *DocumentsSpec[D, E]) Given(stream string, events ...E) *DocumentsSpec[D, E] {
	s.given = append(s.given, givenStream[E]{stream: stream, events: events})
	return s
}

// GivenStored appends events as they were stored, type name, data and
// schema version: events of an older version of their type (or an old type
// name), which the projection reads through its registry's upcasters.
func (s *DocumentsSpec[D, E]) GivenStored(stream string, events ...eventstore.EventData) *DocumentsSpec[D, E] {
	s.given = append(s.given, givenStream[E]{stream: stream, stored: events})
	return s
}

// Then asserts the projection's whole collection: exactly these documents,
// by id.
func (s *DocumentsSpec[D, E]) Then(expected map[string]D) {
	s.t.Helper()
	if expected == nil {
		expected = map[string]D{}
	}
	for _, m := range modes {
		got := s.run(m)
		require.Equal(s.t, expected, got, "documents of projection %q (%s)\n%s", s.proj.Name(), m, s.scenario())
	}
}

// mode is a way Then runs the projection.
type mode string

const (
	perAppend mode = "one batch per append"
	whole     mode = "one batch for all"
	rebuilt   mode = "rebuilt over the documents of one batch per append"
)

var modes = []mode{perAppend, whole, rebuilt}

// ThenDocument asserts one document.
func (s *DocumentsSpec[D, E]) ThenDocument(id string, expected D) {
	s.t.Helper()
	for _, m := range modes {
		got := s.run(m)
		doc, ok := got[id]
		require.True(s.t, ok, "document %q of projection %q is missing (%s)\n%s", id, s.proj.Name(), m, s.scenario())
		require.Equal(s.t, expected, doc, "document %q of projection %q (%s)\n%s", id, s.proj.Name(), m, s.scenario())
	}
}

// ThenNoDocument asserts that a document does not exist.
func (s *DocumentsSpec[D, E]) ThenNoDocument(id string) {
	s.t.Helper()
	for _, m := range modes {
		_, ok := s.run(m)[id]
		require.False(s.t, ok, "document %q of projection %q exists (%s)\n%s", id, s.proj.Name(), m, s.scenario())
	}
}

// run applies the given events on a fresh store, the way m says, and
// returns the documents.
func (s *DocumentsSpec[D, E]) run(m mode) map[string]D {
	s.t.Helper()
	ctx := context.Background()
	var store *memory.Store
	if m == whole {
		store = memory.New()
	} else {
		store = memory.New(memory.WithProjections(s.proj))
	}
	for _, g := range s.given {
		data, err := eventstore.Encode(s.events, g.events, emmett.Metadata{})
		require.NoError(s.t, err)
		if g.stored != nil {
			data = g.stored
		}
		_, err = store.AppendToStream(ctx, g.stream, data)
		require.NoError(s.t, err, "appending the given events\n%s", s.scenario())
	}
	if m != perAppend {
		var all []emmett.RecordedEvent
		for e, err := range store.ReadAll(ctx, eventstore.Position{}) {
			require.NoError(s.t, err)
			all = append(all, e)
		}
		err := store.Processors().Commit(ctx, "spec", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			if m == rebuilt {
				if err := s.proj.Reset(ctx, tx); err != nil {
					return err
				}
			}
			return s.proj.Handle(ctx, tx, backend.Filter(s.proj, all))
		})
		require.NoError(s.t, err, "applying the given events (%s)\n%s", m, s.scenario())
	}
	out := map[string]D{}
	c := projection.NewCollection[D](store.Documents(), s.proj.CollectionName()) // the documents of the projection's version
	for d, err := range store.Documents().Find(ctx, s.proj.CollectionName(), projection.Query{}) {
		require.NoError(s.t, err)
		doc, _, err := c.Get(ctx, d.ID)
		require.NoError(s.t, err)
		out[d.ID] = doc
	}
	return out
}

func (s *DocumentsSpec[D, E]) scenario() string {
	out := "given:"
	for _, g := range s.given {
		out += "\n\tstream " + g.stream + ":"
		for _, e := range g.events {
			out += "\n\t\t" + Describe(e)
		}
		for _, e := range g.stored {
			out += fmt.Sprintf("\n\t\t%s version %d (stored) %s", e.Type, max(e.SchemaVersion, 1), e.Data)
		}
	}
	return out
}
