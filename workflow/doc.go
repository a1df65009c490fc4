// Package workflow runs process managers (sagas) on the decider model, as
// Emmett for Node's workflows do: a Workflow decides, from an input (an
// event of another stream, or a message it scheduled for itself) and its
// state, what to do (commands to send, events to publish, messages to
// schedule: timeouts), and evolves its state from what it received and
// decided.
//
// Each instance (found from an input by the workflow's ID function) keeps
// its inputs and outputs in a stream of its own (Name-id), its inbox and
// outbox: its state is replayed from it like an aggregate's, and every
// decision it made can be audited there.
//
// A Processor runs a workflow on a store's events, on top of a
// projection reactor processor (checkpoint, lock, failure policy). It
// handles each input exactly once, dispatches commands through an
// in-process command.Router (with idempotency keys, so that a dispatch
// repeated after a crash is a no-op), appends published events
// idempotently, and keeps scheduled messages in the store's documents
// until they are due, when it delivers them to their instance as inputs.
//
// testing/spec has a Given/When/Then specification for workflows
// (spec.ForWorkflow).
package workflow
