// Command tally is a well-behaved test module: it counts events per
// document (see tallylib).
package main

import "github.com/emmett-go/emmett/projection/wasm/testdata/tallylib"

func init() { tallylib.Register(nil) }

func main() {}
