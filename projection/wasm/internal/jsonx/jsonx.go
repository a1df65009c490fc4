// Package jsonx holds the JSON encoding helpers that the Wasm host and the
// guest SDK share: the guest is built for wasip1 on its own, so the code
// they share lives here rather than in either.
package jsonx

import (
	"math"
	"strconv"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// Classes of bytes, for the loops that look at a byte at a time: one table
// load instead of several comparisons.
const (
	// StringStop: a quote, a backslash or a control character, which end
	// or interrupt a plain string.
	StringStop = 1 << iota
	// NonASCII: a byte above 0x7f.
	NonASCII
	// HTMLEscape: a byte encoding/json escapes in a string by default
	// (StringStop, <, > and &) or must look at (NonASCII).
	HTMLEscape
	// Structural: a quote, a brace or a bracket.
	Structural
)

// Class holds the classes of each byte.
var Class = func() (c [256]uint8) {
	for b := range 256 {
		switch {
		case b < 0x20 || b == '"' || b == '\\':
			c[b] |= StringStop | HTMLEscape
		case b >= 0x80:
			c[b] |= NonASCII | HTMLEscape
		case b == '<' || b == '>' || b == '&':
			c[b] |= HTMLEscape
		}
		switch b {
		case '"', '{', '}', '[', ']':
			c[b] |= Structural
		}
	}
	return c
}()

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func AppendString(buf []byte, s string) []byte { return appendString(buf, s, false) }

// AppendStringHTML appends s as a JSON string exactly as encoding/json
// writes it by default: AppendString's escapes, and <, > and & as \u003c,
// \u003e and \u0026, U+2028 and U+2029 as \u2028 and \u2029.
func AppendStringHTML(buf []byte, s string) []byte {
	// The common case, a short plain string, in one look at each byte.
	if len(s) <= 32 {
		plain := true
		for i := 0; i < len(s); i++ {
			if Class[s[i]]&HTMLEscape != 0 {
				plain = false
				break
			}
		}
		if plain {
			buf = append(buf, '"')
			buf = append(buf, s...)
			return append(buf, '"')
		}
	}
	return appendString(buf, s, true)
}

// appendString appends s as a JSON string, escaping what encoding/json
// escapes with html (see AppendStringHTML) or without.
func appendString(buf []byte, s string, html bool) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time.
		for i+8 <= len(s) {
			if x := load64(s, i); !plain(x) || html && !noHTML(x) {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case html && (r == '\u2028' || r == '\u2029'):
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// AppendFloat appends f as encoding/json writes a float64 (the shortest
// decimal that reads back as f, in exponent form below 1e-6 and from 1e21
// on); it reports false, appending nothing, for NaN and infinities, which
// JSON cannot hold.
func AppendFloat(buf []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return buf, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		n := len(buf)
		if n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf, true
}

// load64 reads 8 bytes of s from i, little endian (one load where the
// compiler combines them).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasByte reports whether any byte of x is c (c*lsb): SWAR, exact for
// "any".
func hasByte(x, c uint64) bool {
	v := x ^ c
	return (v-lsb)&^v&msb != 0
}

// plain reports whether 8 bytes need no escape in a JSON string: no quote,
// backslash, control character or byte above 0x7f.
func plain(x uint64) bool {
	return x&msb == 0 && (x-space)&^x&msb == 0 && !hasByte(x, quote) && !hasByte(x, bslsh)
}

// noHTML reports whether x has no <, > or &.
func noHTML(x uint64) bool {
	return !hasByte(x, '<'*lsb) && !hasByte(x, '>'*lsb) && !hasByte(x, '&'*lsb)
}
