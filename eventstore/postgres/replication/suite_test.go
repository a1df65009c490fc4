package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/stretchr/testify/require"
)

// The projection backends' conformance suite, with processors on the
// replication feed: catch-up then live, start positions, resuming,
// reactors, retries, errors that stop at the event, one instance at a
// time, a cancel mid-batch, rebuilds, WaitFor across instances.
func TestProjectionSuite(t *testing.T) {
	t.Parallel()
	events := 1000
	if testing.Short() {
		events = 300
	}
	projectiontest.Run(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			s, err := postgres.Open(context.Background(), newDatabase(t), postgres.WithProjections(inline...), postgres.WithReadAllWait(readAllWait))
			require.NoError(t, err)
			t.Cleanup(func() {
				// Every processor of a case shares the case's slot (the
				// suite gives its sources no processor id).
				src, err := replication.NewSource(s, "", suiteOptions(s)...)
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := src.DropSlot(ctx); err != nil {
					t.Logf("dropping the slot: %v", err)
				}
				_ = s.Close()
			})
			return s
		},
		Source: func(b projectiontest.Backend) projection.Source {
			s := b.(*postgres.Store)
			src, err := replication.NewSource(s, "", suiteOptions(s)...)
			if err != nil {
				panic(err)
			}
			return src
		},
		SourceFor: func(t testing.TB, b projectiontest.Backend, processorID string) projection.Source {
			return newSource(t, b.(*postgres.Store), processorID, replication.WithBatchSize(100))
		},
		Events: events,
	})
}

func suiteOptions(s *postgres.Store) []replication.Option {
	return []replication.Option{replication.WithSlot(replication.SlotName(s.Pool().Config().ConnConfig.Database, "suite")), replication.WithBatchSize(100)}
}
