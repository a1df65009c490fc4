//go:build js || wasip1

package sqlite

import (
	"strings"

	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" database/sql driver Open uses
)

// DriverName is the database/sql driver Open uses on js/wasm and wasip1:
// github.com/ncruces/go-sqlite3, SQLite compiled to Wasm and translated
// to Go (no cgo), where modernc.org/sqlite does not build. Elsewhere it
// is "sqlite", modernc.org/sqlite (see driver_modernc.go).
const DriverName = "sqlite3"

// fileLocking is whether the driver locks database files. On js/wasm and
// wasip1 the ncruces VFS has no file locks and no shared memory: a file
// database is opened with nolock=1 in a single connection that reads and
// writes share, with a rollback journal (WAL needs shared memory). One
// process (one Store) may use a file at a time.
const fileLocking = false

// fileDSN is the data source name of the database file at path (a file
// name or a "file:" URI) with the driver parameters params: the ncruces
// driver reads parameters from "file:" URIs only, so a file name becomes
// one.
func fileDSN(path string, params ...string) string {
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	}
	return withParams(path, append([]string{"nolock=1"}, params...)...)
}
