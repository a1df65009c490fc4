// Command loop is a test module that loops forever on "Boom" events.
package main

import "github.com/emmett-go/emmett/projection/wasm/testdata/tallylib"

var spins uint64

func init() {
	tallylib.Register(func() []byte {
		for {
			spins++
		}
	})
}

func main() {}
