package main

import (
	"context"
	"errors"

	"github.com/emmett-go/emmett/projection"
)

func openPostgres(ctx context.Context, url string, inline []projection.Projection) (*backend, error) {
	return nil, errors.New("PostgreSQL: not wired yet")
}
