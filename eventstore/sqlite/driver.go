package sqlite

import (
	"reflect"
	"strings"
)

// What the store needs of a database/sql driver is documented on New. This
// file tells SQLite's errors apart, whatever the driver: by SQLite's result
// code where the driver's error has one, by SQLite's own message text
// otherwise.

// SQLite's primary result codes (https://sqlite.org/rescode.html) the store
// tells apart.
const (
	codeError      = 1  // SQLITE_ERROR: a missing table, among others
	codeBusy       = 5  // SQLITE_BUSY
	codeConstraint = 19 // SQLITE_CONSTRAINT: a unique index refused a row
)

// resultCode returns the primary SQLite result code carried by an error in
// err's chain, if one carries it. Drivers expose it in different types:
// modernc.org/sqlite's *Error has Code() int (the extended code), and
// github.com/ncruces/go-sqlite3's *Error has Code() sqlite3.ErrorCode; so
// any error with a method Code that takes nothing and returns an integer
// counts, found by reflection, without importing a driver. It runs only
// on error paths.
func resultCode(err error) (int, bool) {
	for err != nil {
		if code, ok := codeMethod(err); ok {
			return code & 0xff, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if code, ok := resultCode(e); ok {
					return code, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}

// codeMethod calls err's Code method, if it has one returning an integer.
func codeMethod(err error) (int, bool) {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return 0, false
	}
	m := v.MethodByName("Code")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return 0, false
	}
	switch out := m.Call(nil)[0]; out.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(out.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(out.Uint()), true
	}
	return 0, false
}

// isBusy reports whether err is SQLite's SQLITE_BUSY ("database is
// locked"): another connection held the write lock for longer than the
// busy timeout, or a new database could not be put in WAL mode yet.
func isBusy(err error) bool {
	if err == nil {
		return false
	}
	if code, ok := resultCode(err); ok {
		return code == codeBusy
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}

// isNoSuchTable reports whether err is SQLite's error for a missing table:
// a collection nothing was written to yet, or one dropped behind the
// store's back. SQLite has no result code of its own for it (it is an
// SQLITE_ERROR), so its message tells.
func isNoSuchTable(err error) bool {
	if err == nil || !strings.Contains(err.Error(), "no such table") {
		return false
	}
	code, ok := resultCode(err)
	return !ok || code == codeError
}

// isConstraint reports whether err is SQLite's SQLITE_CONSTRAINT: a unique
// index refused a row (the message ids of a repeated append).
func isConstraint(err error) bool {
	if err == nil {
		return false
	}
	if code, ok := resultCode(err); ok {
		return code == codeConstraint
	}
	return strings.Contains(err.Error(), "constraint failed")
}
