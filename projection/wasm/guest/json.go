package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// A small JSON reader and writer for the ABI's envelopes, without
// reflection: encoding/json is slow in WebAssembly, and the envelopes are
// read and written on every call. The user's own data goes through
// encoding/json as usual.

type scanner struct {
	b []byte
	i int
}

var errSyntax = errors.New("invalid JSON")

func (s *scanner) fail(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("%w: unexpected end of input, expecting %s", errSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d, expecting %s", errSyntax, s.b[s.i], s.i, what)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads an object, calling field for each key; field must read
// the value.
func (s *scanner) object(field func(key []byte) error) error {
	if s.peek() != '{' {
		return s.fail("an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("a key")
		}
		key, err := s.rawString()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.fail("':'")
		}
		s.i++
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.fail("',' or '}'")
		}
	}
}

// array reads an array, calling elem for each element; elem must read
// it.
func (s *scanner) array(elem func() error) error {
	if s.peek() != '[' {
		return s.fail("an array")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.fail("',' or ']'")
		}
	}
}

// rawString reads a string and returns its contents, still escaped.
func (s *scanner) rawString() ([]byte, error) {
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], nil
		case c == '\\':
			j++
		case c < 0x20:
			s.i = j
			return nil, s.fail("a string character")
		}
	}
	s.i = len(s.b)
	return nil, s.fail("'\"'")
}

// str reads a string (or null, as "") and returns it unescaped.
func (s *scanner) str() (string, error) {
	switch s.peek() {
	case 'n':
		return "", s.literal("null")
	case '"':
	default:
		return "", s.fail("a string")
	}
	start := s.i
	raw, err := s.rawString()
	if err != nil {
		return "", err
	}
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			var v string
			err := json.Unmarshal(s.b[start:s.i], &v)
			return v, err
		}
	}
	return string(raw), nil
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail(lit)
	}
	s.i += len(lit)
	return nil
}

// number reads a number (or null, as "0") and returns its text.
func (s *scanner) number() (string, error) {
	if s.peek() == 'n' {
		return "0", s.literal("null")
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		return "", s.fail("a number")
	}
	return string(s.b[start:s.i]), nil
}

// value reads any value and returns its text.
func (s *scanner) value() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(0); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

const maxDepth = 10000

func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested too deeply", errSyntax)
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() error { return s.skip(depth + 1) })
	case c == '"':
		_, err := s.rawString()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, err := s.number()
		return err
	}
}

func (s *scanner) end() error {
	if s.peek() != 0 || s.i < len(s.b) {
		return s.fail("the end of input")
	}
	return nil
}

// field reads the value of an envelope field into e.
func (e *Event) field(s *scanner, key []byte) error {
	var err error
	var n string
	switch string(key) {
	case "type":
		e.Type, err = s.str()
	case "data":
		e.Data, err = s.value()
	case "metadata":
		e.Metadata, err = s.value()
	case "streamName":
		e.StreamName, err = s.str()
	case "streamPosition":
		if n, err = s.number(); err == nil {
			e.StreamPosition, err = strconv.ParseInt(n, 10, 64)
		}
	case "globalPosition":
		if n, err = s.number(); err == nil {
			e.GlobalPosition, err = strconv.ParseInt(n, 10, 64)
		}
	case "transactionId":
		if n, err = s.number(); err == nil {
			e.TransactionID, err = strconv.ParseUint(n, 10, 64)
		}
	case "messageId":
		e.MessageID, err = s.str()
	case "schemaVersion":
		if n, err = s.number(); err == nil {
			e.SchemaVersion, err = strconv.Atoi(n)
		}
	case "created":
		if n, err = s.str(); err == nil && n != "" {
			e.Created, err = time.Parse(time.RFC3339Nano, n)
		}
	default:
		err = s.skip(0)
	}
	if err != nil {
		return fmt.Errorf("event field %s: %w", key, err)
	}
	return nil
}

// parseEvent reads an event envelope. Its data and metadata point into b.
func parseEvent(b []byte) (Event, error) {
	var e Event
	s := &scanner{b: b}
	if err := s.object(func(key []byte) error { return e.field(s, key) }); err != nil {
		return Event{}, err
	}
	return e, s.end()
}

// parseEvolveInput reads {"document": ..., "events": [...]}. The document
// (nil for null) and the events' data point into b.
func parseEvolveInput(b []byte) (doc []byte, events []Event, err error) {
	s := &scanner{b: b}
	err = s.object(func(key []byte) error {
		switch string(key) {
		case "document":
			var err error
			doc, err = s.value()
			return err
		case "events":
			return s.array(func() error {
				var e Event
				err := s.object(func(key []byte) error { return e.field(s, key) })
				events = append(events, e)
				return err
			})
		}
		return s.skip(0)
	})
	if err == nil {
		err = s.end()
	}
	if isNull(doc) {
		doc = nil
	}
	return doc, events, err
}

func appendRaw(buf, raw []byte) []byte {
	if len(raw) == 0 {
		return append(buf, "null"...)
	}
	return append(buf, raw...)
}
