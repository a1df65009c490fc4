package eventstore

import "context"

type minPositionKey struct{}

// WithMinPosition returns a context whose reads must see at least the
// store's state as of pos: read your writes, where pos is what an append
// returned (AppendResult.Position) or a position of a processor's
// checkpoint.
//
// A store that reads from its primary sees every committed write and
// ignores it. A store that reads from a replica (postgres.Replica) waits
// until the replica has replayed pos, and then reads from it; or, when it
// has not caught up in time, reads from the primary or fails, as it is
// configured. Given twice, the later position wins when it comes after the
// earlier one.
func WithMinPosition(ctx context.Context, pos Position) context.Context {
	if prev, ok := MinPosition(ctx); ok && !prev.Before(pos) {
		return ctx
	}
	return context.WithValue(ctx, minPositionKey{}, pos)
}

// MinPosition returns the position WithMinPosition gave ctx, and whether
// there is one.
func MinPosition(ctx context.Context) (Position, bool) {
	p, ok := ctx.Value(minPositionKey{}).(Position)
	return p, ok
}
