//go:build !(js || wasip1)

package sqlite

import (
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver Open uses
)

// DriverName is the database/sql driver Open uses: modernc.org/sqlite,
// SQLite translated from C to Go (no cgo), wherever it builds. On js/wasm
// and wasip1 it is "sqlite3", github.com/ncruces/go-sqlite3 (see
// driver_ncruces.go).
const DriverName = "sqlite"

// fileLocking is whether the driver locks database files, so that a file
// database can have a writer connection and a pool of readers (in WAL
// mode), and several processes can share it.
const fileLocking = true

// fileDSN is the data source name of the database file at path (a file
// name or a "file:" URI) with the driver parameters params.
func fileDSN(path string, params ...string) string { return withParams(path, params...) }
