// Package backend is the API for authors of event store backends, kept
// apart from what applications call (as River keeps its driver API in
// riverdriver). The stores in eventstore/memory, eventstore/sqlite and
// eventstore/postgres are built on it, and so is any wrapper that
// implements eventstore.Store or the projection package's DocumentStore,
// CheckpointStore and Source.
//
// It holds what every backend must do the same way:
//
//   - resolve append and read options (ResolveAppend, ResolveRead,
//     ResolveReadAll) and encode an expected version for SQL
//     (ExpectedVersionCode);
//   - validate an append before touching storage (Prepare), so that bad
//     input is refused with nothing written, the same on every backend;
//   - run inline projections inside the append's transaction
//     (ApplyInline, Filter, NewTx), and create the indexes they declare
//     when the store opens (EnsureIndexes);
//   - evaluate document queries by their reference semantics (Match,
//     JSONContains), where a backend cannot express a condition natively;
//   - wake in-process pollers after a commit (Signal).
//
// A backend proves it follows the contracts by passing the conformance
// suites in testing/storetest and testing/projectiontest.
package backend
