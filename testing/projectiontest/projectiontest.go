// Package projectiontest is the conformance suite for projection backends:
// documents, inline projections, and processors with their checkpoints,
// locks and sources. Every store that implements the projection contracts
// runs it:
//
//	func TestProjections(t *testing.T) {
//		projectiontest.Run(t, projectiontest.Config{
//			New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
//				return memory.New(memory.WithProjections(inline...))
//			},
//			Source: func(b projectiontest.Backend) projection.Source {
//				return b.(*memory.Store).Source()
//			},
//		})
//	}
package projectiontest

import (
	"context"
	"testing"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// Backend is a store with the projection contracts.
type Backend interface {
	eventstore.Store
	// Processors returns the store's processor checkpoints and locks.
	Processors() projection.CheckpointStore
	// Documents returns the store's document store.
	Documents() projection.DocumentStore
}

// Config describes the backend under test.
type Config struct {
	// New returns a store with the given inline projections. Each call
	// must return a store of its own (an empty database), as cases count
	// documents and read the whole log. Required.
	New func(t *testing.T, inline ...projection.Projection) Backend
	// Source returns the source processors on b read from. Required.
	Source func(b Backend) projection.Source
	// SourceFor returns the source of the processor processorID on b, for
	// the cases that run processors of two versions of a projection at
	// once: a feed that gives each processor a feed of its own (a
	// replication slot, dropped when t ends) needs it; nil uses Source.
	SourceFor func(t testing.TB, b Backend, processorID string) projection.Source
	// WokenSource returns a source on b that reads new events only when
	// the store wakes it after an append: the backend's polling source
	// with an interval far longer than the suite (an hour). The case that
	// checks the in-process wake uses it; nil skips that case.
	WokenSource func(b Backend) projection.Source
	// Events is the number of events of the larger cases; 2,000 when 0.
	Events int
	// ReservedCollections are collection names the backend refuses, with
	// an error matching projection.ErrInvalidCollection, beside those
	// projection.ValidateCollection refuses: the names of its own tables
	// (the event store's, the database's).
	ReservedCollections []string
	// DropTable drops the table of a collection in tx, a processor's
	// transaction (through its Unwrap), behind the document store's back,
	// for the case that checks that the store creates it again; nil for a
	// backend without tables.
	DropTable func(ctx context.Context, tx projection.Tx, collection string) error
	// HasIndex tells whether the collection's table has the index that
	// EnsureIndex creates on the field at path, for the cases that check
	// when indexes are created (by EnsureIndex, when the store opens with
	// an inline projection that declares them, by a processor); nil for a
	// backend without indexes, which skips those checks.
	HasIndex func(ctx context.Context, b Backend, collection, path string) (bool, error)
}

func (c Config) events() int {
	if c.Events > 0 {
		return c.Events
	}
	return 2000
}

// Run runs the suite, each case as a named subtest. The cases run in
// parallel (t.Parallel), each on a store of its own (the document cases
// share one, and run one after another): New and Source are called from
// several goroutines, and what the caller's test sets up for them must be
// released with t.Cleanup, not deferred, as the cases run once the
// caller's test function has returned.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.New == nil || cfg.Source == nil {
		t.Fatal("projectiontest.Run: Config.New and Config.Source are required")
	}
	t.Run("Documents", func(t *testing.T) { t.Parallel(); testDocuments(t, cfg) })
	t.Run("Inline", func(t *testing.T) { t.Parallel(); testInline(t, cfg) })
	t.Run("Indexes", func(t *testing.T) { t.Parallel(); testIndexes(t, cfg) })
	t.Run("Processor", func(t *testing.T) { t.Parallel(); testProcessor(t, cfg) })
	t.Run("Versions", func(t *testing.T) { t.Parallel(); testVersions(t, cfg) })
	t.Run("Upcasting", func(t *testing.T) { t.Parallel(); testUpcasting(t, cfg) })
}

func background(t testing.TB) context.Context { return t.Context() }
