package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/testing/projectiontest"
	"github.com/jackc/pgx/v5"
)

// reservedCollections are names of tables of the event store's, dumbo's
// and PostgreSQL's catalogs that collections may not take.
var reservedCollections = []string{"emt_messages", "emt_streams", "emt_processors", "emt_anything", "dmb_migrations", "pg_class"}

func TestProjections(t *testing.T) {
	t.Parallel()
	events := 2000
	if testing.Short() {
		events = 500
	}
	projectiontest.Run(t, projectionsConfig(events, func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
		s, _ := openStore(t, postgres.WithProjections(inline...))
		return s
	}))
}

// projectionsConfig is the projectiontest configuration of the PostgreSQL
// store, opened by open, with the suite's events.
func projectionsConfig(events int, open func(t *testing.T, inline ...projection.Projection) projectiontest.Backend) projectiontest.Config {
	return projectiontest.Config{
		New: open,
		Source: func(b projectiontest.Backend) projection.Source {
			return b.(*postgres.Store).Source(projection.PollBatchSize(100))
		},
		WokenSource: func(b projectiontest.Backend) projection.Source {
			return b.(*postgres.Store).Source(projection.PollInterval(time.Hour))
		},
		Events:              events,
		ReservedCollections: reservedCollections,
		DropTable: func(ctx context.Context, tx projection.Tx, collection string) error {
			_, err := tx.Unwrap().(pgx.Tx).Exec(ctx, `DROP TABLE "`+collection+`"`)
			return err
		},
		HasIndex: func(ctx context.Context, b projectiontest.Backend, collection, path string) (bool, error) {
			var n int
			err := b.(*postgres.Store).Pool().QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexname = $2`,
				collection, postgres.IndexName(collection, path)).Scan(&n)
			return n == 1, err
		},
	}
}
