package jsonx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax is matched by the Scanner's errors on input that is not JSON.
var ErrSyntax = errors.New("invalid JSON")

// MaxDepth is the deepest nesting of arrays and objects a Scanner reads, as
// encoding/json's.
const MaxDepth = 10000

// Scanner reads JSON from B, starting at I, without reflection. Its reads
// check the grammar as encoding/json does (the values Raw and Skip pass
// over included), so that what it accepts, encoding/json accepts.
type Scanner struct {
	B []byte
	I int
}

// Fail returns the syntax error at the current offset.
func (s *Scanner) Fail(what string) error {
	if s.I >= len(s.B) {
		return fmt.Errorf("%w: unexpected end of input, expecting %s", ErrSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d, expecting %s", ErrSyntax, s.B[s.I], s.I, what)
}

// ws skips white space; the common case, none, is inlined.
func (s *Scanner) ws() {
	if s.I < len(s.B) && s.B[s.I] > ' ' {
		return
	}
	s.skipSpace()
}

func (s *Scanner) skipSpace() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Peek skips white space and returns the next byte (0 at the end).
func (s *Scanner) Peek() byte {
	if s.I < len(s.B) && s.B[s.I] > ' ' {
		return s.B[s.I]
	}
	s.skipSpace()
	if s.I < len(s.B) {
		return s.B[s.I]
	}
	return 0
}

// Consume reads c, after white space, if it is next.
func (s *Scanner) Consume(c byte) bool {
	if s.Peek() == c {
		s.I++
		return true
	}
	return false
}

// Open reads the opening bracket c ('{' or '[') and reports whether the
// object or array has a first member: false when it is empty (its closing
// bracket read too).
func (s *Scanner) Open(c byte) (bool, error) {
	if s.Peek() != c {
		if c == '{' {
			return false, s.Fail("an object")
		}
		return false, s.Fail("an array")
	}
	s.I++
	if s.Consume(c + 2) { // '}' is '{'+2, ']' is '['+2
		return false, nil
	}
	return true, nil
}

// Next reads what follows a member of an object or array opened with c:
// a comma (true: another member follows) or the closing bracket (false).
func (s *Scanner) Next(c byte) (bool, error) {
	switch s.Peek() {
	case ',':
		s.I++
		return true, nil
	case c + 2:
		s.I++
		return false, nil
	}
	if c == '{' {
		return false, s.Fail("',' or '}'")
	}
	return false, s.Fail("',' or ']'")
}

// Key reads a member's key and the colon after it. The key is unescaped;
// it points into B unless it had escapes.
func (s *Scanner) Key() ([]byte, error) {
	// The common case: a plain key, then a colon, no white space.
	if b, i := s.B, s.I; i < len(b) && b[i] == '"' {
		j := i + 1
		for j < len(b) && Class[b[j]]&StringStop == 0 {
			j++
		}
		if j+1 < len(b) && b[j] == '"' && b[j+1] == ':' {
			s.I = j + 2
			return b[i+1 : j], nil
		}
	}
	if s.Peek() != '"' {
		return nil, s.Fail("a key")
	}
	key, escaped, err := s.RawString()
	if err != nil {
		return nil, err
	}
	if escaped {
		if key, err = Unquote(nil, key); err != nil {
			return nil, err
		}
	}
	if !s.Consume(':') {
		return nil, s.Fail("':'")
	}
	return key, nil
}

// Object reads an object, calling field for each member; field must read
// the member's value.
func (s *Scanner) Object(field func(key []byte) error) error {
	more, err := s.Open('{')
	for ; more && err == nil; more, err = s.Next('{') {
		var key []byte
		if key, err = s.Key(); err != nil {
			return err
		}
		if err = field(key); err != nil {
			return err
		}
	}
	return err
}

// Array reads an array, calling elem for each element; elem must read it.
func (s *Scanner) Array(elem func() error) error {
	more, err := s.Open('[')
	for ; more && err == nil; more, err = s.Next('[') {
		if err = elem(); err != nil {
			return err
		}
	}
	return err
}

// RawString reads a string (after white space) and returns its contents,
// still escaped, and whether it has escapes. Control characters are
// refused, and so are malformed escapes.
func (s *Scanner) RawString() (raw []byte, escaped bool, err error) {
	raw, flags, err := s.rawString()
	return raw, flags&hasEscape != 0, err
}

// What rawString found in a string.
const (
	hasEscape   = 1
	hasNonASCII = NonASCII
)

// Masks of the SWAR tests on 8 bytes at a time.
const (
	lsb   = 0x0101010101010101
	msb   = 0x8080808080808080
	quote = '"' * lsb
	bslsh = '\\' * lsb
	space = ' ' * lsb
)

// special reports, for 8 bytes, whether any is a quote, a backslash or a
// control character (the bytes a string scan must stop at), and whether
// any is not ASCII.
func special(x uint64) (stop, high bool) {
	q, b := x^quote, x^bslsh
	stop = ((q-lsb)&^q|(b-lsb)&^b|(x-space)&^x)&msb != 0
	return stop, x&msb != 0
}

func (s *Scanner) rawString() (raw []byte, flags int, err error) {
	if s.Peek() != '"' {
		return nil, 0, s.Fail("a string")
	}
	b := s.B
	start := s.I + 1
	j := start
	for {
		// Eight bytes at a time while none needs a look; then those eight
		// one at a time.
		for ; j+8 <= len(b); j += 8 {
			stop, high := special(binary.LittleEndian.Uint64(b[j:]))
			if high {
				flags |= hasNonASCII
			}
			if stop {
				break
			}
		}
		end := min(j+8, len(b))
		if j >= end {
			break
		}
		for ; j < end; j++ {
			c := b[j]
			if k := Class[c]; k&StringStop == 0 {
				flags |= int(k & NonASCII)
				continue
			}
			switch {
			case c == '"':
				s.I = j + 1
				return b[start:j], flags, nil
			case c == '\\':
				flags |= hasEscape
				j++
				if j >= len(b) {
					s.I = len(b)
					return nil, 0, s.Fail("'\"'")
				}
				switch b[j] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
						s.I = j
						return nil, 0, s.Fail("four hexadecimal digits")
					}
					j += 4
				default:
					s.I = j
					return nil, 0, s.Fail("an escape character")
				}
			case c < 0x20:
				s.I = j
				return nil, 0, s.Fail("a string character")
			case c >= 0x80:
				flags |= hasNonASCII
			}
		}
	}
	s.I = len(b)
	return nil, 0, s.Fail("'\"'")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// String reads a string and returns it unescaped; invalid UTF-8 and
// lone surrogates become U+FFFD, as encoding/json makes them.
func (s *Scanner) String() (string, error) {
	raw, flags, err := s.rawString()
	switch {
	case err != nil:
		return "", err
	case flags == 0 || flags == hasNonASCII && utf8.Valid(raw):
		return string(raw), nil
	}
	out, err := Unquote(make([]byte, 0, len(raw)), raw)
	return string(out), err
}

// AppendString reads a string and appends it, unescaped, to buf.
func (s *Scanner) AppendString(buf []byte) ([]byte, error) {
	raw, flags, err := s.rawString()
	switch {
	case err != nil:
		return buf, err
	case flags == 0 || flags == hasNonASCII && utf8.Valid(raw):
		return append(buf, raw...), nil
	}
	return Unquote(buf, raw)
}

// Unquote appends the contents of a string, raw as RawString returns it,
// to buf, unescaped, with invalid UTF-8 and lone surrogates as U+FFFD.
func Unquote(buf, raw []byte) ([]byte, error) {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			if i+1 >= len(raw) {
				return buf, fmt.Errorf("%w: a string ends in a backslash", ErrSyntax)
			}
			switch e := raw[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(raw[i+2:])
				if !ok {
					return buf, fmt.Errorf("%w: a malformed \\u escape", ErrSyntax)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2, ok = hex4(raw[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return buf, fmt.Errorf("%w: the escape \\%c", ErrSyntax, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, raw[i:i+size]...)
			}
			i += size
		}
	}
	return buf, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Literal reads lit (true, false or null) after white space.
func (s *Scanner) Literal(lit string) error {
	s.ws()
	if len(s.B)-s.I < len(lit) || string(s.B[s.I:s.I+len(lit)]) != lit {
		return s.Fail(lit)
	}
	s.I += len(lit)
	return nil
}

// Null reads null if it is next.
func (s *Scanner) Null() bool {
	if s.Peek() != 'n' {
		return false
	}
	return s.Literal("null") == nil
}

// Number reads a number, with JSON's grammar, and returns its text.
func (s *Scanner) Number() ([]byte, error) {
	s.ws()
	b, start := s.B, s.I
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		s.I = i
		return nil, s.Fail("a number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.I = i
			return nil, s.Fail("a digit")
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.I = i
			return nil, s.Fail("a digit")
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	s.I = i
	return b[start:i], nil
}

// Int64 reads an integer (a number without fraction or exponent).
func (s *Scanner) Int64() (int64, error) {
	start := s.I
	n, err := s.Number()
	if err != nil {
		return 0, err
	}
	v, perr := parseInt(n)
	if perr != nil {
		s.I = start
		return 0, fmt.Errorf("%w: %s is not a 64-bit integer", ErrSyntax, n)
	}
	return v, nil
}

// Uint64 reads a non-negative integer.
func (s *Scanner) Uint64() (uint64, error) {
	n, err := s.Number()
	if err != nil {
		return 0, err
	}
	v, perr := parseUint(n)
	if perr != nil {
		return 0, fmt.Errorf("%w: %s is not a 64-bit unsigned integer", ErrSyntax, n)
	}
	return v, nil
}

var errRange = errors.New("out of range")

// parseUint parses decimal digits, faster than strconv on short input.
func parseUint(n []byte) (uint64, error) {
	if len(n) == 0 || len(n) > 20 {
		return 0, errRange
	}
	if len(n) < 20 {
		var v uint64
		for _, c := range n {
			if c < '0' || c > '9' {
				return 0, errRange
			}
			v = v*10 + uint64(c-'0')
		}
		return v, nil
	}
	return strconv.ParseUint(string(n), 10, 64)
}

func parseInt(n []byte) (int64, error) {
	neg := len(n) > 0 && n[0] == '-'
	if neg {
		n = n[1:]
	}
	u, err := parseUint(n)
	switch {
	case err != nil:
		return 0, err
	case neg && u <= 1<<63:
		return -int64(u), nil
	case !neg && u < 1<<63:
		return int64(u), nil
	}
	return 0, errRange
}

// Float64 reads a number as a float64, as encoding/json does.
func (s *Scanner) Float64() (float64, error) {
	n, err := s.Number()
	if err != nil {
		return 0, err
	}
	v, perr := strconv.ParseFloat(string(n), 64)
	if perr != nil {
		return 0, fmt.Errorf("%w: %s does not fit a float64", ErrSyntax, n)
	}
	return v, nil
}

// Raw reads any value and returns its text, checked.
func (s *Scanner) Raw() ([]byte, error) {
	s.ws()
	start := s.I
	if err := s.Skip(); err != nil {
		return nil, err
	}
	return s.B[start:s.I], nil
}

// Skip reads any value, checking it.
func (s *Scanner) Skip() error { return s.skip(0) }

func (s *Scanner) skip(depth int) error {
	switch c := s.Peek(); c {
	case '{', '[':
		if depth >= MaxDepth {
			return fmt.Errorf("%w: nested too deeply", ErrSyntax)
		}
		more, err := s.Open(c)
		for ; more && err == nil; more, err = s.Next(c) {
			if c == '{' {
				if s.Peek() != '"' {
					return s.Fail("a key")
				}
				if _, _, err = s.RawString(); err != nil {
					return err
				}
				if !s.Consume(':') {
					return s.Fail("':'")
				}
			}
			if err = s.skip(depth + 1); err != nil {
				return err
			}
		}
		return err
	case '"':
		_, _, err := s.RawString()
		return err
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	default:
		_, err := s.Number()
		return err
	}
}

// End checks that only white space is left.
func (s *Scanner) End() error {
	s.ws()
	if s.I < len(s.B) {
		return s.Fail("the end of input")
	}
	return nil
}

// Pass reads any value without checking it, only finding where it ends:
// for input known to be JSON (what a host passes its guest), several times
// faster than Skip. It fails only on brackets that do not close before the
// end.
func (s *Scanner) Pass() error {
	s.ws()
	b, i := s.B, s.I
	if i >= len(b) {
		return s.Fail("a value")
	}
	switch b[i] {
	case '"':
		if j := stringEnd(b, i+1); j < len(b) {
			s.I = j + 1
			return nil
		}
	case '{', '[':
		depth, inString := 0, false
		for ; i < len(b); i++ {
			c := b[i]
			if Class[c]&(Structural|StringStop) == 0 {
				continue
			}
			switch {
			case inString:
				if c == '"' {
					inString = false
				} else if c == '\\' {
					i++
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				if depth--; depth == 0 {
					s.I = i + 1
					return nil
				}
			}
		}
	default: // a number or a literal
		start := i
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if i == start {
					return s.Fail("a value")
				}
				s.I = i
				return nil
			}
		}
		s.I = i
		return nil
	}
	s.I = len(b)
	return s.Fail("the end of the value")
}

// structural reports whether any of 8 bytes is a quote, a brace or a
// bracket.
func structural(x uint64) bool {
	a, b, c, d, e := x^quote, x^('{'*lsb), x^('}'*lsb), x^('['*lsb), x^(']'*lsb)
	return ((a-lsb)&^a|(b-lsb)&^b|(c-lsb)&^c|(d-lsb)&^d|(e-lsb)&^e)&msb != 0
}

// stringEnd returns the index of the quote that ends the string whose
// contents start at i, unchecked (len(b) when there is none).
func stringEnd(b []byte, i int) int {
	for {
		for ; i+8 <= len(b); i += 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^quote, x^bslsh
			if ((q-lsb)&^q|(bs-lsb)&^bs)&msb != 0 {
				break
			}
		}
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' {
				return i
			} else if c == '\\' {
				i++
				break
			}
		}
		if i >= len(b) {
			return len(b)
		}
		i++
	}
}

// PassRaw is Raw with Pass: the value's text, unchecked.
func (s *Scanner) PassRaw() ([]byte, error) {
	s.ws()
	start := s.I
	if err := s.Pass(); err != nil {
		return nil, err
	}
	return s.B[start:s.I], nil
}
