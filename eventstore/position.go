package eventstore

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/emmett-go/emmett/emmett"
)

// Position is a point in a store's global log, comparable and serializable:
// it is what an append returns, what ReadAll continues after, and what a
// processor checkpoints.
//
// Stores with one writer (memory, SQLite) order events by GlobalPosition
// alone and leave TransactionID 0. PostgreSQL orders the log by
// (TransactionID, GlobalPosition), the order in which a reader that only
// sees committed transactions can never skip an event.
//
// The zero Position is the start of the log, before any event.
type Position struct {
	TransactionID  uint64
	GlobalPosition int64
}

// PositionOf returns the position of a recorded event.
func PositionOf(e emmett.RecordedEvent) Position {
	return Position{TransactionID: e.TransactionID, GlobalPosition: e.GlobalPosition}
}

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.TransactionID, q.TransactionID); c != 0 {
		return c
	}
	return cmp.Compare(p.GlobalPosition, q.GlobalPosition)
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// String encodes p as text: the global position alone when there is no
// transaction id ("42"), else "transaction:global" ("1907:42").
// ParsePosition reads it back.
func (p Position) String() string {
	if p.TransactionID == 0 {
		return strconv.FormatInt(p.GlobalPosition, 10)
	}
	return strconv.FormatUint(p.TransactionID, 10) + ":" + strconv.FormatInt(p.GlobalPosition, 10)
}

// MarshalText implements encoding.TextMarshaler.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParsePosition parses the text form of a Position. The empty string is the
// start of the log.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	tx, global, found := strings.Cut(s, ":")
	if !found {
		tx, global = "", tx
	}
	var p Position
	var err error
	if found {
		if p.TransactionID, err = strconv.ParseUint(tx, 10, 64); err != nil {
			return Position{}, fmt.Errorf("eventstore: invalid position %q: %w", s, err)
		}
	}
	if p.GlobalPosition, err = strconv.ParseInt(global, 10, 64); err != nil || p.GlobalPosition < 0 {
		return Position{}, fmt.Errorf("eventstore: invalid position %q", s)
	}
	return p, nil
}
