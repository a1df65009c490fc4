package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/emmett-go/emmett/eventstore"
)

// ETag returns the entity tag of a stream version: the weak tag W/"<version>".
//
// A command endpoint returns it in the ETag header of its response; the
// client sends it back in If-Match to make its next command conditional on
// the stream not having changed in between.
func ETag(version int64) string {
	return `W/"` + strconv.FormatInt(version, 10) + `"`
}

// ParseETag parses one entity tag naming a stream version: the weak form
// W/"<version>" that ETag returns, or the strong form "<version>". The
// version is a non-negative decimal integer. Surrounding whitespace is
// ignored.
func ParseETag(tag string) (int64, error) {
	tag = strings.Trim(tag, " \t")
	// A weak and a strong tag name the same version.
	opaque, _ := strings.CutPrefix(tag, "W/")
	if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' {
		return 0, etagError(tag, `not an entity tag: want W/"<version>" or "<version>"`)
	}
	digits := opaque[1 : len(opaque)-1]
	if digits == "" {
		return 0, etagError(tag, "empty entity tag: want a stream version")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, etagError(tag, "the entity tag is not a stream version")
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, etagError(tag, "the stream version is out of range")
	}
	return v, nil
}

func etagError(tag, reason string) error {
	return &InputError{In: InHeader, Name: "If-Match", Value: tag, Reason: reason}
}

// ParseIfMatch parses the value of an If-Match header: "*" requires the
// stream to exist, one entity tag (see ParseETag) requires the stream to be
// at exactly that version. A list of several entity tags is refused: a
// stream is appended to at one expected version.
func ParseIfMatch(value string) (eventstore.ExpectedVersion, error) {
	value = strings.Trim(value, " \t")
	if value == "*" {
		return eventstore.ExpectStreamExists(), nil
	}
	if tags := splitList(value); len(tags) > 1 {
		return eventstore.ExpectedVersion{}, &InputError{In: InHeader, Name: "If-Match", Value: value,
			Reason: "give one entity tag, not a list"}
	}
	v, err := ParseETag(value)
	if err != nil {
		return eventstore.ExpectedVersion{}, err
	}
	return eventstore.ExpectVersion(v), nil
}

// splitList splits a comma-separated header list, keeping commas inside
// quoted strings, and drops empty elements.
func splitList(value string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i <= len(value); i++ {
		if i < len(value) {
			switch value[i] {
			case '"':
				quoted = !quoted
				continue
			case ',':
				if quoted {
					continue
				}
			default:
				continue
			}
		}
		if elem := strings.Trim(value[start:i], " \t"); elem != "" {
			out = append(out, elem)
		}
		start = i + 1
	}
	return out
}

// Precondition reads the condition a request puts on a stream's version
// from its precondition headers:
//
//   - If-Match: W/"<version>" (or the strong "<version>") requires exactly
//     that version;
//   - If-Match: * requires the stream to exist;
//   - If-None-Match: * requires the stream not to exist (create-only);
//   - neither header puts no condition (eventstore.ExpectAny).
//
// A malformed header, both headers at once, or an If-None-Match other than
// "*" is an error (an *InputError, answered 400).
func Precondition(r *http.Request) (eventstore.ExpectedVersion, error) {
	ifMatch, hasMatch := headerList(r.Header, "If-Match")
	ifNoneMatch, hasNoneMatch := headerList(r.Header, "If-None-Match")
	switch {
	case hasMatch && hasNoneMatch:
		return eventstore.ExpectedVersion{}, &InputError{In: InHeader, Name: "If-None-Match", Value: ifNoneMatch,
			Reason: "If-Match and If-None-Match cannot be combined"}
	case hasMatch:
		return ParseIfMatch(ifMatch)
	case hasNoneMatch:
		if strings.Trim(ifNoneMatch, " \t") != "*" {
			return eventstore.ExpectedVersion{}, &InputError{In: InHeader, Name: "If-None-Match", Value: ifNoneMatch,
				Reason: `only "*" (create only) is supported`}
		}
		return eventstore.ExpectNoStream(), nil
	}
	return eventstore.ExpectAny(), nil
}

// headerList returns the values of a header that may be repeated, joined
// as one list, and whether the header is present.
func headerList(h http.Header, name string) (string, bool) {
	values := h.Values(name)
	if len(values) == 0 {
		return "", false
	}
	return strings.Join(values, ", "), true
}
