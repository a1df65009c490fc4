package main

import (
	"context"
	"log/slog"

	"github.com/emmett-go/emmett/eventstore/postgres"
	"github.com/emmett-go/emmett/eventstore/postgres/replication"
	"github.com/emmett-go/emmett/projection"
)

// openPostgres opens the store on PostgreSQL (creating Emmett's schema if
// needed). Each processor of the client summary is fed by logical replication
// where the server allows it, and by polling otherwise; the choice and its
// reason are logged.
func openPostgres(ctx context.Context, url string, inline []projection.Projection, logger *slog.Logger) (*backend, error) {
	store, err := postgres.Open(ctx, url, postgres.WithProjections(inline...))
	if err != nil {
		return nil, err
	}
	return &backend{
		store:   store,
		all:     store,
		cps:     store.Processors(),
		members: store.Membership(),
		summarySource: func(ctx context.Context, processorID string) (projection.Source, error) {
			return replication.Auto(ctx, store, processorID, replication.WithLogger(logger))
		},
		liveSource: store.Source(),
		name:       "PostgreSQL",
		close:      store.Close,
	}, nil
}
