//go:build js || wasip1

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// DriverName is the database/sql driver Open uses on js/wasm and wasip1:
// github.com/ncruces/go-sqlite3, SQLite compiled to Wasm and translated
// to Go (no cgo), where modernc.org/sqlite does not build. Elsewhere it
// is "sqlite", modernc.org/sqlite (see driver_modernc.go).
//
// The store registers it under its own name: ncruces's connections, made
// resettable (see keptConn). Its connections implement ncruces's
// driver.Conn, so that sql.Conn.Raw reaches the SQLite connection (for
// serdes, backups) as with ncruces's "sqlite3".
const DriverName = "emmett-sqlite3"

func init() { sql.Register(DriverName, keepingDriver{}) }

// keepingDriver opens ncruces's connections as keptConn.
type keepingDriver struct{}

func (keepingDriver) Open(name string) (driver.Conn, error) {
	c, err := (&ncruces.SQLite{}).Open(name)
	if err != nil {
		return nil, err
	}
	nc, ok := c.(ncrucesConn)
	if !ok {
		_ = c.Close()
		return nil, errUnexpectedConn
	}
	return keptConn{nc}, nil
}

var errUnexpectedConn = errors.New("sqlite: the ncruces driver returned a connection of an unexpected type")

// ncrucesConn is what ncruces's connections implement.
type ncrucesConn interface {
	ncruces.Conn
	driver.ExecerContext
	driver.NamedValueChecker
}

// keptConn is an ncruces connection database/sql keeps after a
// transaction's context is cancelled. Without driver.SessionResetter and
// driver.Validator, database/sql rolls such a transaction back from
// another goroutine and discards the connection: for an in-memory database
// (and a file, which is one connection on these targets) that connection
// is the database, and the next one would open an empty one. ncruces's
// ROLLBACK runs even when interrupted, so the connection is sound after
// it; ResetSession rolls back whatever transaction is still open.
type keptConn struct{ ncrucesConn }

// ResetSession implements driver.SessionResetter.
func (c keptConn) ResetSession(context.Context) error {
	if c.Raw().GetAutocommit() {
		return nil
	}
	if err := c.Raw().Exec(`ROLLBACK`); err != nil {
		return driver.ErrBadConn
	}
	return nil
}

// IsValid implements driver.Validator.
func (c keptConn) IsValid() bool { return true }

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
