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
	events := 2000
	if testing.Short() {
		events = 500
	}
	projectiontest.Run(t, projectiontest.Config{
		New: func(t *testing.T, inline ...projection.Projection) projectiontest.Backend {
			s, _ := openStore(t, postgres.WithProjections(inline...))
			return s
		},
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
	})
}
