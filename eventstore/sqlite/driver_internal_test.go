package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/ncruces/go-sqlite3/driver"
)

// TestDriverErrors provokes SQLite's busy and missing-table errors through
// both drivers and checks that the store tells them apart, whatever the
// driver's error type and message.
func TestDriverErrors(t *testing.T) {
	ctx := context.Background()
	for _, driver := range []string{DriverName, "sqlite3"} {
		t.Run(driver, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "errors.db")
			holder, err := sql.Open(driver, "file:"+path+"?_pragma=journal_mode(WAL)")
			require.NoError(t, err)
			defer holder.Close()
			waiter, err := sql.Open(driver, "file:"+path+"?_pragma=busy_timeout(0)")
			require.NoError(t, err)
			defer waiter.Close()

			_, err = holder.ExecContext(ctx, `CREATE TABLE t (x)`)
			require.NoError(t, err)
			_, err = waiter.QueryContext(ctx, `SELECT x FROM missing`)
			require.Error(t, err)
			code, ok := resultCode(err)
			assert.True(t, ok, "the driver's error has a result code: %v", err)
			assert.Equal(t, codeError, code)
			assert.True(t, isNoSuchTable(err), "%v", err)
			assert.True(t, isNoSuchTable(fmt.Errorf("wrapped: %w", err)))
			assert.False(t, isBusy(err))

			conn, err := holder.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.ExecContext(ctx, `BEGIN IMMEDIATE`)
			require.NoError(t, err)
			_, err = waiter.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
			require.Error(t, err)
			code, ok = resultCode(err)
			assert.True(t, ok, "the driver's error has a result code: %v", err)
			assert.Equal(t, codeBusy, code)
			assert.True(t, isBusy(err), "%v", err)
			assert.True(t, isBusy(errors.Join(errors.New("other"), fmt.Errorf("wrapped: %w", err))))
			assert.False(t, isNoSuchTable(err))
			_, err = conn.ExecContext(ctx, `ROLLBACK`)
			require.NoError(t, err)
		})
	}
}

// codedError is a driver error with a result code of an unsigned type.
type codedError struct {
	code uint16
	msg  string
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Code() uint16  { return e.code }

func TestDriverErrorsWithoutCodes(t *testing.T) {
	// A driver whose errors have no Code method is judged by SQLite's
	// message text.
	assert.True(t, isBusy(errors.New("database is locked")))
	assert.True(t, isNoSuchTable(errors.New("no such table: docs")))
	assert.False(t, isBusy(errors.New("database table is locked")), "SQLITE_LOCKED is not SQLITE_BUSY")
	assert.False(t, isBusy(nil))
	assert.False(t, isNoSuchTable(nil))
	// A code, when there is one, decides.
	assert.True(t, isBusy(&codedError{code: 5, msg: "busy"}))
	assert.True(t, isBusy(&codedError{code: 5 | 2<<8, msg: "busy"}), "an extended code of SQLITE_BUSY")
	assert.False(t, isBusy(&codedError{code: 19, msg: "constraint failed: database is locked"}))
	assert.False(t, isNoSuchTable(&codedError{code: 19, msg: "no such table"}))
	var nilErr *codedError
	assert.False(t, isBusy(fmt.Errorf("w: %w", nilErr)), "a nil driver error does not panic")
}
