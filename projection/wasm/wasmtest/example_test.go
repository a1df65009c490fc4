package wasmtest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
)

// Build a guest module from its Go source, outside a test function (in a
// TestMain, or an example), and run it as a projection. Inside a test,
// wasmtest.Load(t, "../testdata/tally") does the building and loading in
// one call, and closes the module when the test ends.
//
// Sharing wasmtest.Cache, as Load does, compiles the module's code once
// per test process however many times it is loaded.
func Example() {
	ctx := context.Background()
	bin, err := wasmtest.Compile("../testdata/tally") // once per process
	if err != nil {
		log.Fatal(err)
	}
	m, err := wasm.Load(ctx, bin, wasm.WithName("tally"), wasm.WithCompilationCache(wasmtest.Cache()))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)
	tallies, err := wasm.NewProjection(m, "tallies")
	if err != nil {
		log.Fatal(err)
	}

	store := memory.New(memory.WithProjections(tallies))
	_, err = store.AppendToStream(ctx, "door-1", []eventstore.EventData{
		{Type: "Opened", Data: []byte(`{}`)},
		{Type: "Closed", Data: []byte(`{}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	doc, _, err := store.Documents().Get(ctx, "tallies", "door-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(doc))
	// Output: {"count":2,"types":["Opened","Closed"]}
}
