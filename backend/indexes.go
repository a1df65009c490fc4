package backend

import (
	"context"

	"github.com/emmett-go/emmett/projection"
)

// EnsureIndexes creates in docs the indexes that projections declare (those
// that implement projection.Indexed), where they are missing. Stores call
// it for their inline projections when they open, so that the indexes are
// there before the first append (and before any read); a DocumentProjection
// also makes sure of its own indexes in each batch it handles.
func EnsureIndexes(ctx context.Context, docs projection.DocumentStore, projections []projection.Projection) error {
	for _, p := range projections {
		indexed, ok := p.(projection.Indexed)
		if !ok {
			continue
		}
		for _, ix := range indexed.Indexes() {
			if err := docs.EnsureIndex(ctx, ix.Collection, ix.Path); err != nil {
				return &projection.Error{Projection: p.Name(), Err: err}
			}
		}
	}
	return nil
}
