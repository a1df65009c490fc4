package backend

import (
	"fmt"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
)

// ResolveDuplicate decides whether an append of prepared to stream repeats
// one that was stored: stored are the events of the stream whose message
// ids are among prepared's, in stream order, as the store found them after
// the append failed (a version conflict, or a clash of message ids). When
// there are none, it returns found false: the append's own error stands.
// When they are exactly prepared's, by id and type, at consecutive
// positions, it returns that append's result, with Duplicate set. Any other
// overlap is an error matching eventstore.ErrDuplicateMismatch.
func ResolveDuplicate(stream string, prepared []PreparedEvent, stored []emmett.RecordedEvent) (res eventstore.AppendResult, found bool, err error) {
	if len(stored) == 0 {
		return eventstore.AppendResult{}, false, nil
	}
	mismatch := func(why string) error {
		return fmt.Errorf("%w: stream %q: %s", eventstore.ErrDuplicateMismatch, stream, why)
	}
	if len(stored) != len(prepared) {
		return eventstore.AppendResult{}, true, mismatch(fmt.Sprintf("%d of the append's %d message ids are stored already", len(stored), len(prepared)))
	}
	for i, e := range stored {
		p := prepared[i]
		switch {
		case e.MessageID != p.MessageID:
			return eventstore.AppendResult{}, true, mismatch(fmt.Sprintf("message %s is stored at position %d, not as event %d of the append", e.MessageID, e.StreamPosition, i+1))
		case e.Type != p.Type:
			return eventstore.AppendResult{}, true, mismatch(fmt.Sprintf("message %s is stored as a %q, not a %q", e.MessageID, e.Type, p.Type))
		case i > 0 && e.StreamPosition != stored[0].StreamPosition+int64(i):
			return eventstore.AppendResult{}, true, mismatch("the append's messages are stored apart, not as one append")
		}
	}
	last := stored[len(stored)-1]
	return eventstore.AppendResult{
		NextExpectedVersion: last.StreamPosition,
		Created:             stored[0].StreamPosition == 1,
		Position:            eventstore.PositionOf(last),
		Events:              stored,
		Duplicate:           true,
	}, true, nil
}

// MessageIDs returns the message ids of prepared.
func MessageIDs(prepared []PreparedEvent) []string {
	ids := make([]string, len(prepared))
	for i, p := range prepared {
		ids[i] = p.MessageID
	}
	return ids
}

// CanRepeat reports whether an append of events with options o can repeat
// one stored already: some of its events came with their message ids, or
// the idempotency key derives them. Only such an append is looked up as a
// duplicate when it fails on a version conflict or a clash of ids.
func CanRepeat(events []eventstore.EventData, o eventstore.AppendOptions) bool {
	if o.IdempotencyKey != "" {
		return true
	}
	for _, e := range events {
		if e.MessageID != "" {
			return true
		}
	}
	return false
}
