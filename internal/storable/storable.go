// Package storable tells text and JSON that every store can keep from what
// one of them would refuse. PostgreSQL's text and jsonb hold only valid
// UTF-8 without NUL, and jsonb refuses the escape \u0000 and lone UTF-16
// surrogates (\ud800 without the low half that must follow), although
// they are valid JSON; SQLite and the memory store would keep them. The
// stores check their input with this package, so that such input is
// refused the same way everywhere, before it reaches a database.
package storable

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"
)

// The reasons for refusing text or JSON; the errors of Text and JSON are
// these, as they are.
var (
	errInvalidUTF8     = errors.New("not valid UTF-8")
	errNUL             = errors.New("contains a NUL character")
	errEscapedNUL      = errors.New(`contains the escape \u0000 (NUL), which PostgreSQL's jsonb refuses`)
	errLoneSurrogate   = errors.New(`contains a lone UTF-16 surrogate escape (\ud800 to \udfff), which PostgreSQL's jsonb refuses`)
	errTruncatedEscape = errors.New(`contains a truncated \u escape`)
)

// Text returns nil for text every store keeps: valid UTF-8 without NUL.
func Text(s string) error {
	if !utf8.ValidString(s) {
		return errInvalidUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errNUL
	}
	return nil
}

// JSON returns nil for JSON every store keeps: valid UTF-8, with no
// escaped NUL (\u0000) and no lone surrogate escape in its strings. data
// must be valid JSON (json.Valid): outside strings, JSON has no backslash
// and no byte that is not ASCII.
func JSON(data []byte) error {
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	for i := 0; i < len(data); i++ {
		// Most JSON has few escapes: jump to the next backslash (IndexByte
		// is vectorised) rather than looking at every byte, as this runs
		// on every append.
		next := bytes.IndexByte(data[i:], '\\')
		if next < 0 {
			break
		}
		i += next + 1 // the escaped character
		if i >= len(data) || data[i] != 'u' {
			continue
		}
		r, ok := hex4(data, i+1)
		if !ok {
			return errTruncatedEscape
		}
		i += 4
		switch {
		case r == 0:
			return errEscapedNUL
		case r >= 0xdc00 && r <= 0xdfff: // a low half with no high half before it
			return errLoneSurrogate
		case r >= 0xd800 && r <= 0xdbff: // a high half: the low half must follow
			if i+2 >= len(data) || data[i+1] != '\\' || data[i+2] != 'u' {
				return errLoneSurrogate
			}
			low, ok := hex4(data, i+3)
			if !ok || low < 0xdc00 || low > 0xdfff {
				return errLoneSurrogate
			}
			i += 6
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
