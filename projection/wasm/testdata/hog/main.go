// Command hog is a test module that allocates memory without bound on
// "Boom" events.
package main

import "github.com/emmett-go/emmett/projection/wasm/testdata/tallylib"

var hoard [][]byte

func init() {
	tallylib.Register(func() []byte {
		for {
			chunk := make([]byte, 1<<20)
			chunk[0] = 1
			hoard = append(hoard, chunk)
		}
	})
}

func main() {}
