package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/sqlite"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipelineStore opens a file store, whose source lets processors apply a
// batch while they read and decode the next (projection.Pipeliner), with
// a backlog of n counter events over 20 streams, and a Poisoned event at
// each index of poisonAt.
func pipelineStore(t *testing.T, n int, poisonAt ...int) (*sqlite.Store, []emmett.RecordedEvent) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pipeline.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	for i := range n {
		var e projectiontest.Event = projectiontest.Incremented{By: i, Group: "g"}
		if i%7 == 3 {
			e = projectiontest.Tagged{Tag: fmt.Sprint(i)}
		}
		for _, at := range poisonAt {
			if i == at {
				e = projectiontest.Poisoned{}
			}
		}
		projectiontest.Append(t, s, fmt.Sprintf("counter-%02d", i%20), e)
	}
	var log []emmett.RecordedEvent
	for e, err := range s.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(t, err)
		log = append(log, e)
	}
	require.Len(t, log, n)
	pl, ok := s.Source().(projection.Pipeliner)
	require.True(t, ok && pl.Pipelined(), "a file store's source is pipelined")
	return s, log
}

func TestPipelinedCatchUpMatchesAReplay(t *testing.T) {
	ctx := context.Background()
	s, _ := pipelineStore(t, 600)
	// Batches of 7: each document is read back and written again by
	// many batches, each applied while the next is read.
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(7)), projectiontest.Counters("counters"))
	require.NoError(t, p.CatchUp(ctx))
	projectiontest.RequireCountersMatchReplay(t, s, "counters")
}

func TestPipelinedProcessorStopsAtTheFailingBatch(t *testing.T) {
	ctx := context.Background()
	s, log := pipelineStore(t, 300, 155)
	const batch = 10
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(batch)),
		projectiontest.Poisonable("marks", func() bool { return true }),
		projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}))
	err := p.CatchUp(ctx)
	var perr *projection.ProcessorError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, log[155].MessageID, perr.Event.MessageID, "it stopped at the poisoned event")

	// The batch of the poisoned event (events 150 to 159) and every
	// batch after it, read and decoded while the batches before were
	// applied, left nothing behind; those before were applied once each.
	cp, found, err := s.Processors().ReadCheckpoint(ctx, p.ID())
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, eventstore.PositionOf(log[149]), cp, "the checkpoint is the end of the last batch before the failing one")
	marks, err := s.Documents().Count(ctx, "marks", projection.Query{})
	require.NoError(t, err)
	assert.EqualValues(t, 150+1, marks, "a mark per event applied, and the tally")
	for _, e := range log[150:] {
		_, found, err := s.Documents().Get(ctx, "marks", e.MessageID)
		require.NoError(t, err)
		require.False(t, found, "event %d was not applied", e.GlobalPosition)
	}
	raw, found, err := s.Documents().Get(ctx, "marks", projectiontest.TallyID)
	require.NoError(t, err)
	require.True(t, found)
	assert.JSONEq(t, `{"events":150}`, string(raw), "no event was applied twice")
}

func TestPipelinedProcessorParksAndGoesOn(t *testing.T) {
	ctx := context.Background()
	s, log := pipelineStore(t, 300, 42, 155)
	p := projection.NewProjectionProcessor(s.Processors(), s.Source(projection.PollBatchSize(10)),
		projectiontest.Poisonable("marks", func() bool { return true }),
		projection.WithRetry(emmett.RetryPolicy{MaxAttempts: 1}), projection.WithFailurePolicy(projection.ParkOnFailure))
	require.NoError(t, p.CatchUp(ctx))
	parked, err := p.Parked(ctx)
	require.NoError(t, err)
	require.Len(t, parked, 2)
	assert.Equal(t, log[42].MessageID, parked[0].Event.MessageID)
	assert.Equal(t, log[155].MessageID, parked[1].Event.MessageID)
	raw, found, err := s.Documents().Get(ctx, "marks", projectiontest.TallyID)
	require.NoError(t, err)
	require.True(t, found)
	assert.JSONEq(t, `{"events":298}`, string(raw), "every other event applied once")
}

// TestDocumentBatches checks the documents of a processor's transaction
// read and written many at a time (projection.BatchDocumentStore), as a
// document projection does with each batch.
func TestDocumentBatches(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "docs.db"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })

	// inTx runs fn on the documents of a processor's transaction, and
	// commits it.
	inTx := func(fn func(docs projection.BatchDocumentStore, tx *sql.Tx) error) error {
		return s.Processors().Commit(ctx, "batches", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
			docs, ok := tx.Documents().(projection.BatchDocumentStore)
			require.True(t, ok, "a transaction's documents are a BatchDocumentStore")
			return fn(docs, tx.Unwrap().(*sql.Tx))
		})
	}
	getMany := func(docs projection.BatchDocumentStore, ids ...string) map[string]string {
		got := map[string]string{}
		require.NoError(t, docs.GetMany(ctx, "batched", ids, func(id string, data []byte) error {
			got[id] = string(data)
			return nil
		}))
		return got
	}
	// 101 documents: upserts of 64, 32, 4 and 1 rows.
	var docs []projection.Document
	for i := range 101 {
		docs = append(docs, projection.Document{ID: fmt.Sprintf("doc-%03d", i), Data: fmt.Appendf(nil, `{ "n": %d.50 }`, i)})
	}
	require.NoError(t, inTx(func(b projection.BatchDocumentStore, _ *sql.Tx) error {
		assert.Empty(t, getMany(b, "doc-000"), "the collection does not exist yet")
		return b.PutMany(ctx, "batched", docs)
	}))
	require.NoError(t, inTx(func(b projection.BatchDocumentStore, tx *sql.Tx) error {
		got := getMany(b, "doc-000", "doc-063", "doc-064", "doc-100", "missing")
		assert.Equal(t, map[string]string{"doc-000": `{ "n": 0.50 }`, "doc-063": `{ "n": 63.50 }`, "doc-064": `{ "n": 64.50 }`, "doc-100": `{ "n": 100.50 }`}, got,
			"the documents asked for, byte for byte, and no others")
		var n, versions int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*), sum(_version) FROM batched`).Scan(&n, &versions))
		assert.Equal(t, 101, n)
		assert.Equal(t, 101, versions, "each written once")
		// Written again: replaced, each version counting one more write.
		return b.PutMany(ctx, "batched", docs[:70])
	}))
	var versions int
	require.NoError(t, inTx(func(_ projection.BatchDocumentStore, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT sum(_version) FROM batched`).Scan(&versions)
	}))
	assert.Equal(t, 101+70, versions)

	t.Run("BadInputWritesNothing", func(t *testing.T) {
		bad := []projection.Document{{ID: "ok", Data: []byte(`{}`)}, {ID: "bad", Data: []byte(`{"a":"\u0000"}`)}}
		err := inTx(func(b projection.BatchDocumentStore, _ *sql.Tx) error { return b.PutMany(ctx, "batched", bad) })
		require.ErrorIs(t, err, projection.ErrInvalidDocument)
		_, found, err := s.Documents().Get(ctx, "batched", "ok")
		require.NoError(t, err)
		assert.False(t, found)
		err = inTx(func(b projection.BatchDocumentStore, _ *sql.Tx) error {
			return b.GetMany(ctx, "batched", []string{"a", ""}, func(string, []byte) error { return nil })
		})
		require.ErrorIs(t, err, projection.ErrInvalidDocument)
	})
	t.Run("FoundErrorEndsTheRead", func(t *testing.T) {
		errStop := errors.New("stop")
		calls := 0
		err := inTx(func(b projection.BatchDocumentStore, _ *sql.Tx) error {
			return b.GetMany(ctx, "batched", []string{"doc-001", "doc-002"}, func(string, []byte) error {
				calls++
				return errStop
			})
		})
		require.ErrorIs(t, err, errStop)
		assert.Equal(t, 1, calls)
	})
	t.Run("IDsNeedNoEscapingInSQL", func(t *testing.T) {
		ids := []string{`it's`, `"quoted"`, `back\slash`, `<&>`, `ünï`, strings.Repeat("x", 300)}
		var docs []projection.Document
		for _, id := range ids {
			docs = append(docs, projection.Document{ID: id, Data: []byte(`1`)})
		}
		require.NoError(t, inTx(func(b projection.BatchDocumentStore, _ *sql.Tx) error {
			if err := b.PutMany(ctx, "odd_ids", docs); err != nil {
				return err
			}
			got := map[string]bool{}
			err := b.GetMany(ctx, "odd_ids", ids, func(id string, _ []byte) error {
				got[id] = true
				return nil
			})
			assert.Len(t, got, len(ids))
			return err
		}))
	})
}
