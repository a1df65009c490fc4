package sqlite_test

import (
	"runtime"
	"testing"
)

// onWasm is whether the tests run on js/wasm or wasip1, where the store
// uses github.com/ncruces/go-sqlite3 (see sqlite.DriverName), which
// cannot lock files there: a file database is one connection that reads
// and writes share (Open), and two pools on one file would corrupt it.
// make wasm-test runs the conformance suites there.
const onWasm = runtime.GOARCH == "wasm"

// skipOnWasm skips a test that needs a file database shared by several
// pools, which js/wasm and wasip1 cannot lock.
func skipOnWasm(t *testing.T) {
	t.Helper()
	if onWasm {
		t.Skip("two pools on one file need file locks, which the SQLite driver has no means for on " + runtime.GOOS + "/wasm")
	}
}
