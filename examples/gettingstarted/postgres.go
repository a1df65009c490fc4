package gettingstarted

import (
	"context"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
)

// OpenPostgres opens the bank on the PostgreSQL database url names
// (creating Emmett's schema if needed) with the balances inline, and returns
// the bank totals' processor, fed by logical replication where the server
// allows it and by polling otherwise. Run the processor; close the store.
func OpenPostgres(ctx context.Context, url string) (*postgres.Store, *projection.Processor, error) {
	store, err := postgres.Open(ctx, url, postgres.WithProjections(Balances()))
	if err != nil {
		return nil, nil, err
	}
	totals := BankTotals()
	source, err := replication.Auto(ctx, store, totals.Name())
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, projection.NewProjectionProcessor(store.Processors(), source, totals), nil
}
