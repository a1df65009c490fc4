// Package wasm runs projections and event transformations written as
// WebAssembly modules, in any language that compiles to it, sandboxed by
// wazero (pure Go, no cgo).
//
// A module implements a small ABI (JSON in, JSON out, memory allocated by
// the guest; see README.md beside this file, and package guest for the Go
// side): version 2 passes a whole batch of events per call, version 1 (which
// the host still runs) a document's run of events or one event. It
// describes itself as a document projection, an event transformation, or
// both:
//
//   - a projection folds events into JSON documents: NewProjection returns a
//     projection.Projection, to register with a store (inline), run in a
//     projection.Processor (asynchronously, with ResetAndRebuild), like any Go
//     projection; the documents live in a collection of the store's
//     document store;
//   - a transformation rewrites events: NewTransformer returns a Transformer
//     that upcasts events as they are read (NewStore with TransformOnRead:
//     aggregates, command handlers and processors then see the new shapes)
//     or rewrites them before they are appended (TransformBeforeAppend).
//     NewSource applies it to the batches of any projection.Source (a
//     store's polling feed, PostgreSQL logical replication), and
//     NewBackendStore wraps a whole backend (events, documents,
//     checkpoints, feed) so that it stands where the application's store
//     goes.
//
// Load compiles a module once; instances are created on demand, one per
// concurrent call, up to WithMaxInstances. Each call is bounded in memory
// (WithMemoryLimit) and time (WithCallTimeout: Load instruments the module
// to call the host's check every 16,384 branches back to a loop, which
// stops the call once its time is up, its context done or the module
// closed): a module that traps, runs out of memory, loops or returns a
// malformed result fails the call with a *CallError (wrapped in a
// *projection.Error or *TransformError that carries the event and its
// position), its instance is discarded, and the next call gets a fresh
// one. Modules run without a file system, network, environment or real
// clock.
//
// Tests build Go guest modules from source with package wasmtest; nothing
// compiled is committed.
package wasm
