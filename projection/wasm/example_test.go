package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/wasmtest"
)

// tallyModule is the module built from ./testdata/tally, for the examples:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./testdata/tally
var tallyModule []byte

// cache keeps the module's compiled code, so that loading it again (here,
// in each example) does not compile it again: an application shares one
// cache between the modules it loads, or keeps one on disk with
// wazero.NewCompilationCacheWithDir.
var cache = wasmtest.Cache()

func TestMain(m *testing.M) {
	// Build every test module up front, all at once: each is a go build
	// (and under the race detector a compilation) in processes of its own,
	// which the tests would otherwise wait for one after another. A
	// module's error is the test's that loads it.
	var wg sync.WaitGroup
	for _, pkg := range []string{"./testdata/trap", "./testdata/loop", "./testdata/malformed", "./testdata/hog", "./testdata/identity"} {
		wg.Go(func() { _, _ = wasmtest.Compile(pkg) })
	}
	bin, err := wasmtest.Compile("./testdata/tally")
	wg.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tallyModule = bin
	os.Exit(m.Run())
}

// A document projection written as a module, run inline by a store.
func Example() {
	ctx := context.Background()
	m, err := wasm.Load(ctx, tallyModule, wasm.WithName("tally"), wasm.WithCompilationCache(cache))
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

// Events upcast on read: the stored events keep their old shape, readers
// of the wrapped store see the new one.
func ExampleNewStore() {
	ctx := context.Background()
	m, err := wasm.Load(ctx, tallyModule, wasm.WithName("tally"), wasm.WithCompilationCache(cache))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)
	upcaster, err := wasm.NewTransformer(m)
	if err != nil {
		log.Fatal(err)
	}

	stored := memory.New()
	_, err = stored.AppendToStream(ctx, "door-1", []eventstore.EventData{
		{Type: "Renamed", Data: []byte(`{}`)},
		{Type: "Opened", Data: []byte(`{}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	store := wasm.NewStore(stored, wasm.TransformOnRead(upcaster))
	for e, err := range store.ReadStream(ctx, "door-1") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.StreamPosition, e.Type)
	}
	// Output:
	// 1 Transformed
	// 2 Opened
}

// A failing module fails the append, naming the event and its position;
// nothing is stored.
func ExampleCallError() {
	ctx := context.Background()
	m, err := wasm.Load(ctx, tallyModule, wasm.WithName("tally"), wasm.WithCompilationCache(cache))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)
	tallies, err := wasm.NewProjection(m, "tallies")
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New(memory.WithProjections(tallies))

	_, err = store.AppendToStream(ctx, "door-1", []eventstore.EventData{{Type: "Reject", Data: []byte(`{}`)}})
	var perr *projection.Error
	var cerr *wasm.CallError
	if errors.As(err, &perr) && errors.As(err, &cerr) {
		fmt.Println("position:", perr.Position())
		fmt.Println("module error:", errors.Is(err, wasm.ErrGuest), cerr.Detail)
	}
	_, exists, _ := store.StreamVersion(ctx, "door-1")
	fmt.Println("appended:", exists)
	// Output:
	// position: 1
	// module error: true rejected by the tally module
	// appended: false
}

// An upcaster standing where the application's backend goes: a processor
// commits its checkpoints and documents to the backend, and its feed (the
// backend's own, woken by appends) gives it the transformed events.
func ExampleNewBackendStore() {
	ctx := context.Background()
	m, err := wasm.Load(ctx, tallyModule, wasm.WithName("tally"), wasm.WithCompilationCache(cache))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)
	upcaster, err := wasm.NewTransformer(m)
	if err != nil {
		log.Fatal(err)
	}
	tallies, err := wasm.NewProjection(m, "tallies")
	if err != nil {
		log.Fatal(err)
	}

	stored := memory.New()
	backend := wasm.NewBackendStore(stored, wasm.TransformOnRead(upcaster))
	proc := projection.NewProjectionProcessor(backend.Processors(), backend.Source(), tallies)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proc.Run(runCtx) }()

	res, err := stored.AppendToStream(ctx, "door-1", []eventstore.EventData{
		{Type: "Renamed", Data: []byte(`{}`)},
		{Type: "Opened", Data: []byte(`{}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := proc.WaitFor(ctx, res.Position); err != nil {
		log.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	doc, _, err := backend.Documents().Get(ctx, "tallies", "door-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(doc))
	// Output: {"count":2,"types":["Transformed","Opened"]}
}

// Any feed of a store's log, transformed: here the in-memory store's, for
// a reactor.
func ExampleNewSource() {
	ctx := context.Background()
	m, err := wasm.Load(ctx, tallyModule, wasm.WithName("tally"), wasm.WithCompilationCache(cache))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)
	upcaster, err := wasm.NewTransformer(m)
	if err != nil {
		log.Fatal(err)
	}

	store := memory.New()
	res, err := store.AppendToStream(ctx, "door-1", []eventstore.EventData{
		{Type: "Renamed", Data: []byte(`{}`)},
		{Type: "Split", Data: []byte(`{}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	source := wasm.NewSource(store.Source(), upcaster)
	reactor := projection.NewReactorProcessor(store.Processors(), source, "printer", nil, func(_ context.Context, e emmett.RecordedEvent) error {
		fmt.Println(e.GlobalPosition, e.Type, string(e.Data))
		return nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reactor.Run(runCtx) }()
	if err := reactor.WaitFor(ctx, res.Position); err != nil {
		log.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// 1 Transformed {}
	// 2 Half {"half":1}
	// 2 Half {"half":2}
}
