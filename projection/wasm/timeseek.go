package wasm

import (
	"context"
	"fmt"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

var _ projection.TimeSeeker = (*source)(nil)

// PositionAt implements projection.TimeSeeker with the inner source's (the
// times are the stored events', which a transformation keeps), for
// processors started with projection.StartFromTime; it fails when the
// inner source is not a TimeSeeker.
func (s *source) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, error) {
	seeker, ok := s.inner.(projection.TimeSeeker)
	if !ok {
		return eventstore.Position{}, fmt.Errorf("wasm: the source (%T) cannot start from a time: it is not a projection.TimeSeeker", s.inner)
	}
	return seeker.PositionAt(ctx, t)
}
