package guest

import (
	"fmt"
	"time"

	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"
)

// The reading of the ABI's inputs, without reflection (see codec.go): the
// envelopes are read on every call. The host's input is JSON (its own, the
// data the store checked, the documents it checked): the values the guest
// does not read (data, metadata, unknown members) are passed over, not
// checked.

// interner interns the strings the envelopes repeat (event types, stream
// names), so that a batch's events share them rather than each holding a
// copy.
type interner struct {
	m map[string]string
}

const maxInterned = 4096

func (in *interner) get(raw []byte) string {
	if s, ok := in.m[string(raw)]; ok {
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 64)
	}
	s := string(raw)
	in.m[s] = s
	return s
}

// str reads a string, interned when it is plain ASCII (in may be nil: no
// interning).
func (in *interner) str(s *jsonx.Scanner) (string, error) {
	if s.Null() {
		return "", nil
	}
	raw, escaped, err := s.RawString()
	switch {
	case err != nil:
		return "", err
	case !escaped && isASCII(raw):
		if in != nil {
			return in.get(raw), nil
		}
		return string(raw), nil
	}
	out, err := jsonx.Unquote(nil, raw)
	return string(out), err
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// The members of an envelope.
const (
	fieldType = iota
	fieldData
	fieldMetadata
	fieldStreamName
	fieldStreamPosition
	fieldGlobalPosition
	fieldTransactionID
	fieldMessageID
	fieldSchemaVersion
	fieldCreated
	fieldDataLength
	fieldUnknown
)

// envelopeKeys are the members' keys.
var envelopeKeys = [...]string{"type", "data", "metadata", "streamName", "streamPosition",
	"globalPosition", "transactionId", "messageId", "schemaVersion", "created", "dataLength"}

// fieldOf returns the member of a key.
func fieldOf(key []byte) int {
	switch string(key) {
	case "type":
		return fieldType
	case "data":
		return fieldData
	case "metadata":
		return fieldMetadata
	case "streamName":
		return fieldStreamName
	case "streamPosition":
		return fieldStreamPosition
	case "globalPosition":
		return fieldGlobalPosition
	case "transactionId":
		return fieldTransactionID
	case "messageId":
		return fieldMessageID
	case "schemaVersion":
		return fieldSchemaVersion
	case "created":
		return fieldCreated
	case "dataLength":
		return fieldDataLength
	}
	return fieldUnknown
}

// set reads the value of member f into e.
func (e *Event) set(s *jsonx.Scanner, in *interner, f int) error {
	var err error
	switch f {
	case fieldType:
		e.Type, err = in.str(s)
	case fieldData:
		// The host says how long the data is: taken without reading it
		// through, when it ends where it says.
		if n, i := e.dataLength, s.I; n > 0 && i+n < len(s.B) && (s.B[i+n] == ',' || s.B[i+n] == '}') {
			e.Data = s.B[i : i+n]
			s.I += n
		} else {
			e.Data, err = s.PassRaw()
		}
	case fieldDataLength:
		var v int64
		v, err = s.Int64()
		e.dataLength = int(v)
	case fieldMetadata:
		e.Metadata, err = s.PassRaw()
	case fieldStreamName:
		e.StreamName, err = in.str(s)
	case fieldStreamPosition:
		if !s.Null() {
			e.StreamPosition, err = s.Int64()
		}
	case fieldGlobalPosition:
		if !s.Null() {
			e.GlobalPosition, err = s.Int64()
		}
	case fieldTransactionID:
		if !s.Null() {
			e.TransactionID, err = s.Uint64()
		}
	case fieldMessageID:
		if !s.Null() {
			e.MessageID, err = s.String()
		}
	case fieldSchemaVersion:
		if !s.Null() {
			var v int64
			v, err = s.Int64()
			e.SchemaVersion = int(v)
		}
	case fieldCreated:
		if !s.Null() {
			var raw []byte
			var escaped bool
			if raw, escaped, err = s.RawString(); err == nil {
				if escaped {
					raw, err = jsonx.Unquote(nil, raw)
				}
				if err == nil && len(raw) > 0 {
					e.Created, err = parseTime(raw)
				}
			}
		}
	default:
		err = s.Pass()
	}
	if err != nil {
		key := "?"
		if f < len(envelopeKeys) {
			key = envelopeKeys[f]
		}
		return fmt.Errorf("event field %s: %w", key, err)
	}
	return nil
}

// readEvent reads an event envelope into e. Its data and metadata point
// into the input.
func readEvent(s *jsonx.Scanner, in *interner, e *Event) error {
	more, err := s.Open('{')
	for ; more && err == nil; more, err = s.Next('{') {
		var key []byte
		if key, err = s.Key(); err != nil {
			return err
		}
		if err = e.set(s, in, fieldOf(key)); err != nil {
			return err
		}
	}
	return err
}

// parseEvent reads an event envelope, alone in b.
func parseEvent(b []byte) (Event, error) {
	s := &jsonx.Scanner{B: b}
	var e Event
	err := readEvent(s, nil, &e)
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// readEvents reads an array of event envelopes, appending them to events.
func readEvents(s *jsonx.Scanner, in *interner, events []Event) ([]Event, error) {
	err := s.Array(func() error {
		events = append(events, Event{})
		return readEvent(s, in, &events[len(events)-1])
	})
	return events, err
}

// readEventsInput reads {"events": [...]}, the input of
// emmett_document_ids_batch and emmett_transform_batch.
func readEventsInput(b []byte, in *interner, events []Event) ([]Event, error) {
	s := &jsonx.Scanner{B: b}
	err := s.Object(func(key []byte) error {
		if string(key) == "events" {
			var err error
			events, err = readEvents(s, in, events)
			return err
		}
		return s.Skip()
	})
	if err == nil {
		err = s.End()
	}
	return events, err
}

func appendRaw(buf, raw []byte) []byte {
	if len(raw) == 0 {
		return append(buf, "null"...)
	}
	return append(buf, raw...)
}

// parseTime reads an RFC 3339 time as time.Time's UnmarshalText does;
// the form the host writes (UTC, "Z", up to nine digits of fraction) the
// short way, to the same time.
func parseTime(b []byte) (time.Time, error) {
	if t, ok := parseUTC(b); ok {
		return t, nil
	}
	var t time.Time
	err := t.UnmarshalText(b)
	return t, err
}

// parseUTC reads YYYY-MM-DDTHH:MM:SS[.fffffffff] then Z or ±hh:mm, as
// UnmarshalText does; ok is false for anything else, a date, time or
// offset out of range included.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	end, offset := len(b)-1, 0 // end: where the zone starts
	switch {
	case b[end] == 'Z':
	case len(b) >= 25 && (b[len(b)-6] == '+' || b[len(b)-6] == '-') && b[len(b)-3] == ':':
		end = len(b) - 6
		hh, ok1 := digits(b, end+1, 2)
		mm, ok2 := digits(b, end+4, 2)
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		if offset = (hh*60 + mm) * 60; b[end] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	year, ok1 := digits(b, 0, 4)
	month, ok2 := digits(b, 5, 2)
	day, ok3 := digits(b, 8, 2)
	hour, ok4 := digits(b, 11, 2)
	minute, ok5 := digits(b, 14, 2)
	sec, ok6 := digits(b, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19:end]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := digits(b, 20, len(frac)-1)
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	// Days since 1970-01-01 of the civil date (Howard Hinnant's
	// days_from_civil).
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	unix := int64(days)*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	t := time.Unix(unix, int64(nsec))
	if b[end] == 'Z' {
		return t.UTC(), true
	}
	// As time.Parse does: the local zone when it has that offset then,
	// else a fixed zone.
	if _, local := t.Zone(); local == offset {
		return t, true
	}
	return t.In(time.FixedZone("", offset)), true
}

// digits reads the n decimal digits of b at i.
func digits(b []byte, i, n int) (int, bool) {
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
