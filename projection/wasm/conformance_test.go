package wasm_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/emmett-go/emmett/testing/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Wasm stores run the conformance suites with the identity module
// (testdata/identity) transforming every event, on read and before
// append: each event the suites append or read goes through the module
// and back, and must come back as the store underneath has it.

// identity loads the identity module for the test, its transformer
// shared by the stores of the test's subtests (a Transformer is safe for
// concurrent use).
func identity(t *testing.T) *wasm.Transformer {
	t.Helper()
	tr, err := wasm.NewTransformer(wasmtest.Load(t, "./testdata/identity"))
	require.NoError(t, err)
	return tr
}

// largeStream is the length of the store suite's long stream, sized to
// what it proves here (every event through the module and back, in
// order): the stores underneath run the long one, which also checks that
// a read is not loaded whole.
const largeStream = 2_000

func transforming(tr *wasm.Transformer) []wasm.StoreOption {
	return []wasm.StoreOption{wasm.TransformOnRead(tr), wasm.TransformBeforeAppend(tr)}
}

// openSQLite opens an in-memory SQLite store, closed when the test ends.
func openSQLite(t *testing.T, inline ...projection.Projection) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), ":memory:", sqlite.WithProjections(inline...))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestStoreConformance(t *testing.T) {
	tr := identity(t)
	storetest.Run(t, storetest.Config{
		New:               func(t *testing.T) eventstore.Store { return wasm.NewStore(memory.New(), transforming(tr)...) },
		LargeStreamEvents: largeStream,
	})
}

func TestBackendStoreConformance(t *testing.T) {
	tr := identity(t)
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) eventstore.Store {
			return wasm.NewBackendStore(openSQLite(t), transforming(tr)...)
		},
		LargeStreamEvents: largeStream,
	})
}

// storeBackend is a Store as an application uses one: its events through
// the Store, its documents and processors' checkpoints those of the store
// underneath (read models are not events; see Store's doc). The Store's
// methods are promoted from depth 1 and win over the underlying
// backend's, which fill in the rest from depth 2.
type storeBackend struct {
	*wasm.Store
	underneath
}

type underneath struct{ projectiontest.Backend }

func TestStoreProjections(t *testing.T) {
	tr := identity(t)
	projectiontest.Run(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			inner := memory.New(memory.WithProjections(inline...))
			return storeBackend{wasm.NewStore(inner, transforming(tr)...), underneath{inner}}
		},
		// A polling source over the Store reads its transformed log; its
		// appends do not wake it, so it polls often.
		Source: func(b projectiontest.Backend) projection.Source {
			return backend.NewPollingSource(b.(storeBackend).Store, backend.ResolvePoll(projection.PollBatchSize(100), projection.PollInterval(20*time.Millisecond)))
		},
		// The store underneath wakes its own source; NewSource
		// transforms what that source reads.
		WokenSource: func(b projectiontest.Backend) projection.Source {
			inner := b.(storeBackend).Inner().(*memory.Store)
			return wasm.NewSource(inner.Source(projection.PollInterval(time.Hour)), tr)
		},
		Events: 500,
	})
}

func TestBackendStoreProjections(t *testing.T) {
	tr := identity(t)
	projectiontest.Run(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			return wasm.NewBackendStore(openSQLite(t, inline...), transforming(tr)...)
		},
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*wasm.BackendStore).Source(projection.PollBatchSize(100))
		},
		WokenSource: func(b projectiontest.Backend) projection.Source {
			return b.(*wasm.BackendStore).Source(projection.PollInterval(time.Hour))
		},
		Events:              500,
		ReservedCollections: []string{"emt_messages", "emt_streams", "emt_processors", "sqlite_master"},
		DropTable:           dropSQLiteTable,
	})
}

// dropSQLiteTable drops a collection's table in a processor's transaction
// on the SQLite store.
func dropSQLiteTable(ctx context.Context, tx projection.Tx, collection string) error {
	_, err := tx.Unwrap().(*sql.Tx).ExecContext(ctx, `DROP TABLE "`+collection+`"`)
	return err
}

// TestStoreRefusesBadInputBeforeTheModule checks that an append the
// wrapped store would refuse is refused as it would be (not as the
// module's failure), before the module runs, with nothing appended: here
// events the tally module would reject, and one over WithMaxEventBytes.
func TestStoreRefusesBadInputBeforeTheModule(t *testing.T) {
	inner := memory.New(memory.WithMaxEventBytes(4096))
	store := wasm.NewStore(inner, wasm.TransformBeforeAppend(tallyTransformer(t)), wasm.WithMaxEventBytes(4096))
	ctx := context.Background()
	for name, c := range map[string]struct {
		events []eventstore.EventData
		is     error
	}{
		"NotJSON":  {[]eventstore.EventData{{Type: "Reject", Data: []byte(`{"a":`)}}, eventstore.ErrInvalidEvent},
		"NoData":   {[]eventstore.EventData{{Type: "Reject"}}, eventstore.ErrInvalidEvent},
		"NoType":   {[]eventstore.EventData{{Data: []byte(`{}`)}}, eventstore.ErrInvalidEvent},
		"TooLarge": {[]eventstore.EventData{{Type: "Reject", Data: []byte(`"` + strings.Repeat("x", 4096) + `"`)}}, eventstore.ErrEventTooLarge},
		"NoEvents": {nil, eventstore.ErrNoEvents},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := store.AppendToStream(ctx, "s-1", c.events)
			require.ErrorIs(t, err, c.is)
			assert.NotErrorIs(t, err, wasm.ErrGuest, "the module never saw it")
		})
	}
	_, err := store.AppendToStream(ctx, "", []eventstore.EventData{event("Other")})
	assert.ErrorIs(t, err, eventstore.ErrInvalidStreamName)
	assert.Empty(t, readAll(t, inner), "nothing appended")

	// What the module returns is checked by the wrapped store.
	res, err := store.AppendToStream(ctx, "s-1", []eventstore.EventData{{Type: "Renamed", Data: []byte(`{"n":1}`)}})
	require.NoError(t, err)
	assert.Equal(t, "Transformed", res.Events[0].Type)
}
