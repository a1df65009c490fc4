// Package wasmtest builds Go guest modules from source for tests, with the
// local Go toolchain, so that no compiled module needs to be committed:
//
//	m := wasmtest.Load(t, "./testdata/counter")
//	p, err := wasm.NewProjection(m, "counters")
//
// Builds are cached for the test process (each package is built once, the
// go command's own cache makes later runs fast), and so is the compiled
// code of the modules loaded with Load. In a test binary built with -race,
// where wazero's compiler would be instrumented too and ten times slower,
// each module is compiled by a helper built without the race detector, and
// its code loaded from there (see precompile.go).
package wasmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/tetratelabs/wazero"
)

type build struct {
	once sync.Once
	bin  []byte
	err  error
}

// ErrNoGo is matched by Compile's error when there is no go command.
var ErrNoGo = errors.New("wasmtest: no go command")

// The process's builds and compiled code: a test binary builds and
// compiles each module once, whichever test asks first.
var (
	builds   sync.Map // key: package pattern and working directory -> *build
	cacheMu  sync.Mutex
	cacheVal wazero.CompilationCache
)

// Cache returns the compilation cache that Load shares between the modules
// of the test process.
func Cache() wazero.CompilationCache {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if cacheVal == nil {
		cacheVal = newCache()
	}
	return cacheVal
}

// Build compiles the Go main package pkg (an import path, or a directory
// relative to the test's working directory such as "./testdata/trap") with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, and returns the module (see
// Compile). It skips the test when there is no go command, and fails it
// when the build fails.
func Build(tb testing.TB, pkg string) []byte {
	tb.Helper()
	bin, err := Compile(pkg)
	switch {
	case errors.Is(err, ErrNoGo):
		tb.Skip(err)
	case err != nil:
		tb.Fatal(err)
	}
	return bin
}

// Compile is Build outside a test (in a TestMain, say): it builds pkg once
// per process and directory, and returns the module or the build's error.
func Compile(pkg string) ([]byte, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("wasmtest: %w", err)
	}
	v, _ := builds.LoadOrStore(pkg+"\x00"+wd, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.bin, b.err = compile(pkg)
		if b.err == nil {
			precompile(b.bin, true)
		}
	})
	return b.bin, b.err
}

func compile(pkg string) ([]byte, error) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("%w to build %s: %v", ErrNoGo, pkg, err)
	}
	dir, err := os.MkdirTemp("", "wasmtest-")
	if err != nil {
		return nil, fmt.Errorf("wasmtest: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "module.wasm")
	cmd := exec.Command(gocmd, "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmtest: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared %s: %w\n%s", pkg, err, strings.TrimSpace(string(output)))
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("wasmtest: %w", err)
	}
	return bin, nil
}

// Load builds pkg (see Build) and loads it, named after the package's last
// path element and sharing the compiled code of the test process (Cache),
// with opts applied after those. The module is closed when the test ends.
func Load(tb testing.TB, pkg string, opts ...wasm.Option) *wasm.Module {
	tb.Helper()
	bin := Build(tb, pkg)
	if !interruptible(opts) {
		precompile(bin, false)
	}
	all := append([]wasm.Option{wasm.WithName(filepath.Base(pkg)), wasm.WithCompilationCache(Cache())}, opts...)
	m, err := wasm.Load(context.Background(), bin, all...)
	if err != nil {
		tb.Fatalf("wasmtest: loading %s: %v", pkg, err)
	}
	emptyCacheDir()
	tb.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}
