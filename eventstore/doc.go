// Package eventstore is the contract every event store backend implements:
// appending to a stream with an expected version, reading a stream, reading
// the global log in order, and the errors and positions that go with them.
//
// The backends live in sub-packages: [github.com/emmett-go/emmett/eventstore/memory],
// [github.com/emmett-go/emmett/eventstore/sqlite] and
// [github.com/emmett-go/emmett/eventstore/postgres]. Every backend passes the
// conformance suite in [github.com/emmett-go/emmett/testing/storetest].
//
// Expected versions are enforced inside the backend's own transaction, never by
// a read-then-write in Go. A conflict returns an error that
// errors.Is(err, ErrVersionConflict) matches and errors.As turns into a
// *VersionConflictError with the stream, the expected and the actual version.
//
// Positions are those of one store's log. Tenants spread over several
// stores (the [github.com/emmett-go/emmett/eventstore/shard] router) have
// a log per store, with no order across them. A read whose context
// carries a position (WithMinPosition) sees at least what was written up
// to it, also where the store reads from a replica.
package eventstore
