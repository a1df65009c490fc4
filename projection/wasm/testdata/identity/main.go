// Command identity is a test module whose transformation returns every
// event as it is: the Wasm stores run the conformance suites with it, so
// that every event read or appended goes through the module and back.
package main

import "github.com/emmett-go/emmett/projection/wasm/guest"

func init() {
	guest.RegisterTransform(guest.Transform{
		Transform: func(e guest.Event) ([]guest.Event, error) { return []guest.Event{e}, nil },
	})
}

func main() {}
