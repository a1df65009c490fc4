// Package sqlproc holds what the SQL stores (SQLite, PostgreSQL) share in
// keeping processors' state in emt_processors, Emmett for Node's table: the
// texts of checkpoints, why a commit was refused, and the pause of an
// instance waiting for a processor's lock.
package sqlproc

import (
	"context"
	"fmt"
	"time"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/projection"
)

// CheckpointText is how a position is stored in last_processed_checkpoint,
// zero-padded so that text order is log order, as Emmett for Node writes
// it: the global position alone, 19 digits ("0000000000000000042", Node
// 0.42's form), for a position without a transaction id; "<transaction id,
// 20 digits>:<global position, 19 digits>" (Node 0.43's form) for one with
// it; prefixed with the WAL position, if any ("0/16B3748@…").
// eventstore.ParsePosition reads them all.
func CheckpointText(p eventstore.Position) string {
	var s string
	if p.TransactionID == 0 {
		s = fmt.Sprintf("%019d", p.GlobalPosition)
	} else {
		s = fmt.Sprintf("%020d:%019d", p.TransactionID, p.GlobalPosition)
	}
	if p.LSN != 0 {
		s = fmt.Sprintf("%X/%X@", p.LSN>>32, uint32(p.LSN)) + s
	}
	return s
}

// CheckpointForms are the stored texts that mean p, for a compare on the
// stored checkpoint: CheckpointText's, the unpadded String, for a position
// with a transaction id (and no WAL position) its global position alone (a
// checkpoint of Node 0.42, which a store may read as p), and for the start
// of the log "" (a row created by a lock before any checkpoint). There are
// two or three.
func CheckpointForms(p eventstore.Position) []string {
	forms := []string{CheckpointText(p), p.String()}
	switch {
	case p.IsZero():
		forms = append(forms, "")
	case p.LSN == 0 && p.TransactionID != 0:
		forms = append(forms, fmt.Sprintf("%019d", p.GlobalPosition))
	}
	return forms
}

// ParseCheckpoint reads a stored checkpoint of a processor: "" is none.
// backend prefixes the error.
func ParseCheckpoint(backend, processorID, text string) (eventstore.Position, bool, error) {
	if text == "" {
		return eventstore.Position{}, false, nil
	}
	p, err := eventstore.ParsePosition(text)
	if err != nil {
		return eventstore.Position{}, false, fmt.Errorf("%s: processor %q: stored checkpoint: %w", backend, processorID, err)
	}
	return p, true, nil
}

// Pause waits for pause to pass, or for wake to be closed (a release of a
// lock in this process), before an instance waiting for a processor's lock
// tries again. It returns ctx's error if ctx ends first.
func Pause(ctx context.Context, wake <-chan struct{}, pause time.Duration) error {
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
	case <-t.C:
	}
	return nil
}

// Row is a processor's row of emt_processors as read after a Commit that
// changed nothing, to tell why.
type Row struct {
	// Found is false when the processor has no row.
	Found bool
	// Checkpoint, Instance and Status are its columns.
	Checkpoint, Instance, Status string
	// Free is whether an instance may take the processor's lock now (the
	// row names no live instance).
	Free bool
}

// CommitRefused is the error of a Commit from checkpoint from that changed
// nothing, given the processor's row: projection.ErrLockLost when the
// lock (held by instance lockInstance when locked) is not this instance's
// any more, or another instance runs the processor; otherwise
// projection.ErrCheckpointMoved. backend prefixes the error.
func CommitRefused(backend, processorID string, from eventstore.Position, locked bool, lockInstance string, row Row) error {
	switch {
	case !row.Found && locked:
		return fmt.Errorf("%s: processor %q: its row is gone: %w", backend, processorID, projection.ErrLockLost)
	case !row.Found:
		return fmt.Errorf("%s: processor %q has no checkpoint, not %s: %w", backend, processorID, from, projection.ErrCheckpointMoved)
	case locked && (row.Instance != lockInstance || row.Status != "running"):
		return fmt.Errorf("%s: processor %q: the lock is now %s's (status %s): %w", backend, processorID, row.Instance, row.Status, projection.ErrLockLost)
	case !locked && !row.Free:
		return fmt.Errorf("%s: processor %q is running in instance %s: %w", backend, processorID, row.Instance, projection.ErrLockLost)
	}
	return fmt.Errorf("%s: processor %q: stored checkpoint %q is not %s: %w", backend, processorID, row.Checkpoint, from, projection.ErrCheckpointMoved)
}
