package backend

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/emmett-go/emmett/emmett"
)

// DecodeMetadata decodes stored metadata (emt_messages.message_metadata)
// as json.Unmarshal into m would; empty or {} gives the zero Metadata. The
// common cases are decoded without encoding/json: no metadata ({}), and an
// object holding only a correlation and a causation id, however its stores
// print it (PostgreSQL's jsonb {"causationId": "…", "correlationId": "…"},
// SQLite's compact {"causationId":"…","correlationId":"…"}). Anything else
// goes through emmett.Metadata's own decoding.
func DecodeMetadata(data []byte, m *emmett.Metadata) error {
	if len(data) == 0 || bytes.Equal(data, emptyMetadata) {
		*m = emmett.Metadata{}
		return nil
	}
	if decodeIDsOnly(data, m) {
		return nil
	}
	*m = emmett.Metadata{}
	return json.Unmarshal(data, m)
}

// decodeIDsOnly decodes an object holding only correlationId and
// causationId string values without escapes; it reports false (and leaves
// m as it was) for anything else.
func decodeIDsOnly(data []byte, m *emmett.Metadata) bool {
	rest, ok := bytes.CutPrefix(skipSpace(data), []byte("{"))
	if !ok {
		return false
	}
	var out emmett.Metadata
	for first := true; ; first = false {
		rest = skipSpace(rest)
		if r, ok := bytes.CutPrefix(rest, []byte("}")); ok {
			if len(skipSpace(r)) != 0 || first {
				return false
			}
			*m = out
			return true
		}
		if !first {
			if rest, ok = bytes.CutPrefix(rest, []byte(",")); !ok {
				return false
			}
		}
		var key, value []byte
		if key, rest, ok = simpleString(skipSpace(rest)); !ok {
			return false
		}
		if rest, ok = bytes.CutPrefix(skipSpace(rest), []byte(":")); !ok {
			return false
		}
		if value, rest, ok = simpleString(skipSpace(rest)); !ok {
			return false
		}
		switch string(key) {
		case "correlationId":
			out.CorrelationID = string(value)
		case "causationId":
			out.CausationID = string(value)
		default:
			return false
		}
	}
}

// skipSpace drops JSON whitespace at the start of b.
func skipSpace(b []byte) []byte {
	for len(b) > 0 {
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			b = b[1:]
		default:
			return b
		}
	}
	return b
}

// simpleString reads a JSON string of UTF-8 text without escapes or control
// characters at the start of b.
func simpleString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			if !utf8.Valid(b[1:i]) {
				return nil, nil, false // encoding/json replaces what is not UTF-8
			}
			return b[1:i], b[i+1:], true
		case c == '\\' || c < 0x20:
			return nil, nil, false
		}
	}
	return nil, nil, false
}
