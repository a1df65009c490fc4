//go:build !(js || wasip1)

package wasi

import (
	"crypto/rand"
	"errors"

	"github.com/tetratelabs/wazero/sys"
)

// isExitZero reports whether err is the module's exit with status 0.
func isExitZero(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 0
}

// randReader gives the module the host's random bytes (message ids).
type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }
