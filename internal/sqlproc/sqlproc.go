// Package sqlproc holds what the SQL stores (SQLite, PostgreSQL) share in
// keeping processors' state in emt_processors, Emmett for Node's table: the
// texts of checkpoints, and the pause of an instance waiting for a
// processor's lock.
package sqlproc

import (
	"context"
	"fmt"
	"time"

	"github.com/emmett-go/emmett/eventstore"
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
