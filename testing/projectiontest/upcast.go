package projectiontest

import (
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/aggregate"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// UpcastingEvents is a registry in which Incremented is at schema version
// 3: version 1 stored {"n":N}, version 2 {"by":N}, version 3 adds the
// group ("legacy" for older events); events once stored as "Bumped" are
// Incremented events (at version 2).
func UpcastingEvents() *emmett.Events[Event] {
	return emmett.NewEvents[Event](Incremented{}, Tagged{}, Removed{}).
		Upcast("Incremented", 1, emmett.UpcastFunc(func(data []byte) ([]byte, error) {
			var v1 struct {
				N int `json:"n"`
			}
			if err := json.Unmarshal(data, &v1); err != nil {
				return nil, err
			}
			return json.Marshal(map[string]int{"by": v1.N})
		})).
		Upcast("Incremented", 2, emmett.UpcastJSON(func(v2 struct {
			By int `json:"by"`
		}) (Incremented, error) {
			return Incremented{By: v2.By, Group: "legacy"}, nil
		})).
		Renamed("Bumped", "Incremented")
}

// testUpcasting stores events of three schema versions and an old type
// name, and reads them as current ones through the registry: replaying
// the stream (as a command handler does) and in a processor on the
// backend's feed. A write through a registry that downcasts stores the
// older version, with its number.
func testUpcasting(t *testing.T, cfg Config) {
	b := cfg.New(t)
	ctx := background(t)
	_, err := b.AppendToStream(ctx, "counter-1", []eventstore.EventData{
		{Type: "Incremented", Data: []byte(`{"n":1}`), SchemaVersion: 1},
		{Type: "Incremented", Data: []byte(`{"by":2}`), SchemaVersion: 2},
		{Type: "Bumped", Data: []byte(`{"by":4}`), SchemaVersion: 2},
		{Type: "Incremented", Data: []byte(`{"by":8,"group":"new"}`), SchemaVersion: 3},
	})
	require.NoError(t, err)
	events := UpcastingEvents()

	// Replay.
	st, err := aggregate.Load(ctx, b, events, "counter-1", func(s Counter, e Event) Counter {
		rec := emmett.Recorded[Event]{Event: e}
		return *evolveCounter(&s, rec)
	}, func() Counter { return Counter{} })
	require.NoError(t, err)
	assert.Equal(t, 15, st.State.Total, "every version read, up to the current one")
	assert.Equal(t, "new", st.State.Group.Name)

	// A processor on the backend's feed.
	var groups []string
	counters := projection.SingleStream("upcast_counters", events, func(doc *Counter, e emmett.Recorded[Event]) *Counter {
		if inc, ok := e.Event.(Incremented); ok {
			groups = append(groups, inc.Group)
		}
		return evolveCounter(doc, e)
	})
	p := projection.NewProjectionProcessor(b.Processors(), cfg.sourceFor(t, b, "upcast_counters"), counters)
	require.NoError(t, p.CatchUp(ctx))
	doc, found, err := counters.Collection(b.Documents()).Get(ctx, "counter-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, 15, doc.Total)
	assert.Equal(t, 4, doc.Count, "the renamed type's event is handled too")
	assert.Equal(t, []string{"legacy", "legacy", "legacy", "new"}, groups)

	// A downcast write.
	down := events.Downcast("Incremented", 2, func(data []byte) ([]byte, error) {
		var cur Incremented
		if err := json.Unmarshal(data, &cur); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]int{"by": cur.By})
	})
	data, err := eventstore.Encode(down, []Event{Incremented{By: 16, Group: "g"}}, emmett.Metadata{})
	require.NoError(t, err)
	res, err := b.AppendToStream(ctx, "counter-2", data)
	require.NoError(t, err)
	var stored emmett.RecordedEvent
	for e, err := range b.ReadStream(ctx, "counter-2") {
		require.NoError(t, err)
		stored = e
	}
	assert.Equal(t, 2, stored.SchemaVersion, "stored at the older version")
	assert.JSONEq(t, `{"by":16}`, string(stored.Data))
	assert.Equal(t, 2, res.Events[0].SchemaVersion)
	again, err := events.DecodeRecorded(stored)
	require.NoError(t, err)
	assert.Equal(t, Incremented{By: 16, Group: "legacy"}, again.Event, "read back through the upcasters")
}
