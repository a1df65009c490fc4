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
// sees committed transactions can never skip an event. A feed from
// PostgreSQL's logical replication delivers transactions in commit order and
// sets LSN, the commit's position in the write-ahead log: positions that
// both have an LSN are ordered by it first.
//
// The zero Position is the start of the log, before any event.
type Position struct {
	// TransactionID is the id of the transaction that appended the event
	// (PostgreSQL's xid8); 0 in stores with one writer.
	TransactionID uint64
	// GlobalPosition is the event's position in the global log.
	GlobalPosition int64
	// LSN is the write-ahead log position of the transaction's commit, for
	// positions from logical replication; 0 otherwise.
	LSN uint64
}

// PositionOf returns the position of a recorded event.
func PositionOf(e emmett.RecordedEvent) Position {
	return Position{TransactionID: e.TransactionID, GlobalPosition: e.GlobalPosition}
}

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1, 0 or +1 as p is before, equal to or after q. When both
// have an LSN they are ordered by it, then by global position (the order of
// events within a transaction); otherwise by (TransactionID,
// GlobalPosition).
func (p Position) Compare(q Position) int {
	if p.LSN != 0 && q.LSN != 0 {
		if c := cmp.Compare(p.LSN, q.LSN); c != 0 {
			return c
		}
		return cmp.Compare(p.GlobalPosition, q.GlobalPosition)
	}
	if c := cmp.Compare(p.TransactionID, q.TransactionID); c != 0 {
		return c
	}
	return cmp.Compare(p.GlobalPosition, q.GlobalPosition)
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// String encodes p as text: the global position alone when there is no
// transaction id ("42"), else "transaction:global" ("1907:42"), preceded by
// the LSN in PostgreSQL's notation and '@' when there is one
// ("0/16B3748@1907:42"). ParsePosition reads it back.
func (p Position) String() string {
	var s string
	if p.TransactionID == 0 {
		s = strconv.FormatInt(p.GlobalPosition, 10)
	} else {
		s = strconv.FormatUint(p.TransactionID, 10) + ":" + strconv.FormatInt(p.GlobalPosition, 10)
	}
	if p.LSN != 0 {
		s = fmt.Sprintf("%X/%X@%s", p.LSN>>32, uint32(p.LSN), s)
	}
	return s
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
	var p Position
	if lsn, rest, found := strings.Cut(s, "@"); found {
		hi, lo, ok := strings.Cut(lsn, "/")
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if !ok || err1 != nil || err2 != nil {
			return Position{}, fmt.Errorf("eventstore: invalid position %q: bad LSN", s)
		}
		p.LSN = h<<32 | l
		s = rest
	}
	tx, global, found := strings.Cut(s, ":")
	if !found {
		tx, global = "", tx
	}
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
