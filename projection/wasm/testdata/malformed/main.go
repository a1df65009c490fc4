// Command malformed is a test module that returns a result that is not
// JSON on "Boom" events.
package main

import "github.com/emmett-go/emmett/projection/wasm/testdata/tallylib"

func init() {
	tallylib.Register(func() []byte { return []byte(`{"count": 1, oops`) })
}

func main() {}
