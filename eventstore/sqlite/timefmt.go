package sqlite

import (
	"fmt"
	"time"
)

// createdLayout is how emt_messages.created is stored: UTC, to the
// microsecond, in the text form SQLite's date and time functions read
// (CURRENT_TIMESTAMP's form with six fractional digits).
const createdLayout = "2006-01-02 15:04:05.000000"

// appendCreated appends t (already UTC) in createdLayout.
func appendCreated(b []byte, t time.Time) []byte {
	return t.AppendFormat(b, createdLayout)
}

// parseCreated reads a created value: the fixed layout this package writes
// on a fast path, and the other forms SQLite and Emmett for Node write
// ("YYYY-MM-DD HH:MM:SS", a 'T' separator, a zone suffix) on a slow one.
// Times without a zone are UTC, as SQLite's are.
func parseCreated(b []byte) (time.Time, error) {
	if t, ok := parseFixed(b); ok {
		return t, nil
	}
	s := string(b)
	for _, layout := range createdLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("sqlite: cannot parse created time %q", s)
}

var createdLayouts = [...]string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseFixed parses "YYYY-MM-DD HH:MM:SS[.ffffff...]" with no zone, without
// the generality (and the cost) of time.Parse.
func parseFixed(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if rest := b[19:]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		frac, ok := num(rest[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			frac *= 10
		}
		nsec = frac
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}
