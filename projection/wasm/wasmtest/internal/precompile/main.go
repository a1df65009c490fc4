// Command precompile compiles WebAssembly modules into a wazero compilation
// cache directory, as projection/wasm compiles them (instrumented so that
// their calls can be stopped, unless -interruptible=false, as
// WithoutCallTimeout makes them), so that a process opening the directory
// with wazero.NewCompilationCacheWithDir loads their compiled code instead
// of compiling them:
//
//	precompile [-interruptible=false] DIR MODULE.wasm...
//
// wasmtest runs it, built without the race detector, for the test binaries
// that are built with it (see wasmtest's precompile.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/emmett-go/emmett/projection/wasm/internal/interrupt"
	"github.com/tetratelabs/wazero"
)

func main() {
	interruptible := flag.Bool("interruptible", true, "compile the modules instrumented so that their calls can be stopped")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompile [-interruptible=false] DIR MODULE.wasm...")
		os.Exit(2)
	}
	if err := run(context.Background(), *interruptible, flag.Arg(0), flag.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "precompile:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, interruptible bool, dir string, modules []string) error {
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return err
	}
	defer cache.Close(ctx)
	for _, path := range modules {
		bin, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if interruptible {
			if bin, err = interrupt.Instrument(bin); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
		_, err = rt.CompileModule(ctx, bin)
		_ = rt.Close(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}
