package replication

import (
	"errors"
	"fmt"

	"github.com/emmett-go/emmett/eventstore"
)

// ErrSlotInvalidated is matched by the error of a source whose slot lost the
// WAL it needed: the server removed it, as max_slot_wal_keep_size allows
// when a slot falls too far behind (pg_replication_slots.wal_status 'lost').
// The changes between the checkpoint and the server's current position are
// gone from the WAL; the slot cannot serve them again.
var ErrSlotInvalidated = errors.New("replication: slot invalidated")

// ErrCheckpointUnreachable is matched by the error of a source asked to
// resume from a checkpoint its slot cannot serve: the slot was dropped, has
// moved past the checkpoint (another consumer, a restored database), or the
// checkpoint is inside the history of a slot that was recreated since.
var ErrCheckpointUnreachable = errors.New("replication: checkpoint unreachable from the slot")

// ErrNoFreeSlot is matched by the error of a source that has to create its
// slot on a server whose replication slots are all in use
// (max_replication_slots): Subscribe stops with it instead of retrying, and
// Head returns it. Check reports it in advance (its error matches
// ErrUnavailable too), so Auto falls back to polling. Drop the slots no
// longer used (pg_replication_slots; Source.DropSlot for a retired
// processor's) or raise max_replication_slots.
var ErrNoFreeSlot = errors.New("replication: no free replication slot")

// SlotError stops a source that cannot resume from the processor's
// checkpoint on its slot. It matches ErrSlotInvalidated or
// ErrCheckpointUnreachable.
//
// To recover, rebuild the processor (projection.Processor.ResetAndRebuild): its
// checkpoint goes back to the start, which makes the source drop the slot,
// create it again with an exported snapshot, replay the events of
// emt_messages visible in that snapshot (the table still holds every event;
// only the WAL is gone) and go on with the stream from the new slot's
// consistent point, with nothing lost or doubled at the seam. A projector's
// read model is reset by the rebuild and ends equal to a fresh replay; a
// reactor sees every event again (its handler must be idempotent on the
// message id, as always).
type SlotError struct {
	// Slot is the slot's name.
	Slot string
	// Checkpoint is the position the source was asked to resume from.
	Checkpoint eventstore.Position
	// Reason says what is wrong, for people.
	Reason string
	// Err is ErrSlotInvalidated or ErrCheckpointUnreachable, wrapping the
	// server's error when there is one.
	Err error
}

// Error names the slot and the checkpoint, says why the slot cannot serve
// it, and how to recover.
func (e *SlotError) Error() string {
	return fmt.Sprintf("replication: slot %q cannot resume from checkpoint %s: %s; rebuild the processor "+
		"(Processor.ResetAndRebuild recreates the slot, replays the table in the new slot's snapshot, then follows the stream)",
		e.Slot, e.Checkpoint, e.Reason)
}

// Unwrap returns the cause.
func (e *SlotError) Unwrap() error { return e.Err }

// handlerError wraps what the processor's handler returned, which
// Subscribe returns as it is.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }
