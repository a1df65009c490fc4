package wasm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/stretchr/testify/require"
)

// tally is the document of the test modules (testdata/tallylib).
type tally struct {
	Count int      `json:"count"`
	Types []string `json:"types"`
}

func event(typ string) eventstore.EventData {
	return eventstore.EventData{Type: typ, Data: []byte(`{}`)}
}

func eventFor(typ string, ids ...string) eventstore.EventData {
	if ids == nil {
		ids = []string{}
	}
	data, _ := json.Marshal(map[string][]string{"ids": ids})
	return eventstore.EventData{Type: typ, Data: data}
}

func tallyProjection(t testing.TB, pkg string, opts ...wasm.Option) *wasm.Projection {
	t.Helper()
	m := wasmtest.Load(t, pkg, opts...)
	p, err := wasm.NewProjection(m, "tallies")
	require.NoError(t, err)
	return p
}

// documents returns a collection's documents by id.
func documents(t testing.TB, docs projection.DocumentStore, collection string) map[string]tally {
	t.Helper()
	out := map[string]tally{}
	for d, err := range docs.Find(context.Background(), collection, projection.Query{}) {
		require.NoError(t, err)
		var doc tally
		require.NoError(t, json.Unmarshal(d.Data, &doc))
		out[d.ID] = doc
	}
	return out
}

// backends are the stores the tests run on, each opened with inline
// projections and closed when the test ends.
var backends = []struct {
	name string
	open func(t testing.TB, ps ...projection.Projection) wasm.Backend
}{
	{"memory", func(t testing.TB, ps ...projection.Projection) wasm.Backend {
		return memory.New(memory.WithProjections(ps...))
	}},
	{"sqlite", func(t testing.TB, ps ...projection.Projection) wasm.Backend {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.WithProjections(ps...))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

func readAll(t testing.TB, s eventstore.GlobalReader) []emmett.RecordedEvent {
	t.Helper()
	var out []emmett.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func appendEvents(t testing.TB, s eventstore.Appender, stream string, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.AppendToStream(context.Background(), stream, events)
	require.NoError(t, err)
	return res
}

func readStream(t testing.TB, s eventstore.StreamReader, stream string) []emmett.RecordedEvent {
	t.Helper()
	var out []emmett.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), stream) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// runProcessor runs a projector of p over store (trying each batch once)
// until the test ends, and returns it with the channel Run's result
// arrives on.
func runProcessor(t testing.TB, store *memory.Store, p projection.Projection, opts ...projection.ProcessorOption) (*projection.Processor, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	proc := projection.NewProjectionProcessor(store.Processors(), store.Source(projection.PollInterval(20*time.Millisecond)), p,
		append([]projection.ProcessorOption{projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1})}, opts...)...)
	result, stopped := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(stopped)
		result <- proc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("processor did not stop")
		}
	})
	return proc, result
}

func waitFor(t testing.TB, proc *projection.Processor, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, proc.WaitFor(ctx, pos), fmt.Sprintf("waiting for %s", pos))
}
