// Package projection builds read models from events.
//
// A Projection turns batches of recorded events into changes to read models,
// inside a transaction (Tx) that a store backend provides. Document
// projections keep JSON documents in named collections: SingleStream keeps
// one document per stream, MultiStream computes document ids from events,
// and Custom runs any handler. Read the documents back with a typed
// Collection; a document projection declares indexes on the fields its
// documents are looked up by (WithIndexes), which the stores create with
// the collection.
//
// Projections run in two ways:
//
//   - inline, registered with a store, inside the transaction of each append:
//     a read right after the append sees the change, and an error in the
//     projection rolls the append back;
//   - asynchronously, in a Processor that consumes the global log through a
//     Source and stores its checkpoint in the same transaction as its
//     read-model changes (a projector), or runs side effects and checkpoints
//     after them (a reactor).
//
// An event a processor's handler keeps failing on stops it by default; a
// failure policy (WithFailurePolicy) skips it or parks it instead: parked
// events are recorded beside the checkpoints, in the transaction that
// moves the checkpoint past them, and are listed, retried and discarded
// (Processor.Parked, RetryParked, DiscardParked; emmett parked).
//
// A projection declares a version (WithVersion, CustomVersion). Bumping it
// rebuilds the read model without downtime: the new version's processor
// builds its own collection from the whole log while the current version
// serves reads and keeps up, and once it has caught up, one transaction
// makes it the active version (recorded with the others in emt_projections;
// Versions, ActiveVersion), which every Collection reads from then on. The
// old version's processor stops, and its read model stays until
// DropVersion (emmett projections -drop-version). ResetAndRebuild, which
// empties the read model and replays the log into it, is for development.
//
// Run processes events until stopped; RunUntil and CatchUp run a processor
// until it has reached a position or the end of the log as it was, for
// batch jobs, tests and tools. A processor without a checkpoint starts at
// the beginning, at the end (StartFromEnd), after a position (StartAfter)
// or at a point in time (StartFromTime).
//
// A processor's lock lets one instance of an application run it at a
// time. To spread an application's processors over its instances, run
// them in a Group: the instances register with heartbeat rows in the
// store (Membership; emt_instances), each processor runs on one live
// instance, each instance runs its share (⌊P/N⌋ or ⌈P/N⌉ of P processors
// on N instances; Assign), and the processors of an instance that stops
// or dies are taken over by the others within a bound its TTL sets
// (WithInstanceTTL). The lock and the checkpoint's fencing still keep two
// instances from applying one batch.
//
// Backends (memory, SQLite, PostgreSQL) provide a DocumentStore (their
// Documents method), a CheckpointStore (their Processors method) and
// Sources; their authors build them with package backend, and the suite
// in testing/projectiontest checks them.
//
// Processors are traced and measured with OpenTelemetry (see WithTelemetry
// and the telemetry package): each batch is a span linked to the appends
// of its events, and its duration, the events processed and the
// processor's lag are measured.
package projection
