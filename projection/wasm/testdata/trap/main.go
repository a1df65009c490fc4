// Command trap is a test module that panics on "Boom" events, in its
// projection and in its transformation.
package main

import (
	"fmt"
	"os"

	"github.com/emmett-go/emmett/projection/wasm/testdata/tallylib"
)

func init() {
	tallylib.Register(func() []byte {
		fmt.Fprintln(os.Stderr, "trap: about to panic")
		panic("boom: the trap module panics")
	})
}

func main() {}
