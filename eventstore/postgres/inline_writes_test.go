package postgres_test

import (
	"context"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInlineWritesAreSeenInTheAppend checks the inline projections'
// document writes, which an append sends with its COMMIT: within the
// append's transaction, a projection after the one that wrote a document
// reads it as written, through its Documents and through SQL of its own
// (Unwrap), and a document written then deleted is gone.
func TestInlineWritesAreSeenInTheAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counters := projectiontest.Counters("seen_counters")
	type seen struct {
		ByDocuments int  `json:"byDocuments"`
		BySQL       int  `json:"bySql"`
		Deleted     bool `json:"deleted"`
	}
	reader := projection.Custom("reader", projectiontest.Events,
		func(ctx context.Context, tx projection.Tx, events []emmett.Recorded[projectiontest.Event]) error {
			stream := events[0].StreamName
			docs := projection.NewCollection[projectiontest.Counter](tx.Documents(), "seen_counters")
			c, _, err := docs.Get(ctx, stream)
			if err != nil {
				return err
			}
			var s seen
			s.ByDocuments = c.Total
			if err := tx.Unwrap().(pgx.Tx).QueryRow(ctx, `SELECT (data->>'total')::int FROM seen_counters WHERE _id = $1`, stream).Scan(&s.BySQL); err != nil {
				return err
			}
			scratch := projection.NewCollection[seen](tx.Documents(), "seen_scratch")
			if err := scratch.Put(ctx, stream, s); err != nil {
				return err
			}
			if err := scratch.Delete(ctx, stream); err != nil {
				return err
			}
			_, found, err := scratch.Get(ctx, stream)
			s.Deleted = !found
			if err != nil {
				return err
			}
			return projection.NewCollection[seen](tx.Documents(), "seen_by_reader").Put(ctx, stream, s)
		}, nil)
	s, _ := openStore(t, postgres.WithProjections(counters, reader))

	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 2})
	projectiontest.Append(t, s, "counter-1", projectiontest.Incremented{By: 3})

	got, found, err := projection.NewCollection[seen](s.Documents(), "seen_by_reader").Get(ctx, "counter-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, seen{ByDocuments: 5, BySQL: 5, Deleted: true}, got, "the counter as the append wrote it, before its commit")
	_, found, err = s.Documents().Get(ctx, "seen_scratch", "counter-1")
	require.NoError(t, err)
	assert.False(t, found, "deleted in the append that wrote it")
}
