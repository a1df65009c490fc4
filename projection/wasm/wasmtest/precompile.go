package wasmtest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/emmett-go/emmett/projection/wasm/internal/interrupt"
	"github.com/emmett-go/emmett/projection/wasm/internal/loadopts"
	"github.com/tetratelabs/wazero"
)

// Under the race detector (a test binary built with -race) wazero's
// compiler is instrumented like the rest of the binary, and compiling a Go
// guest module, megabytes of Wasm, takes ten times as long as without it:
// half a minute of CPU a module on a small machine. The compiled code does
// not depend on how the compiler was built, and the race detector has
// nothing of the test's to check in it (the compiler runs on the calling
// goroutine). So the test binary has a helper built without the race
// detector (internal/precompile, with go run) compile each module that
// Compile builds, and loads the compiled code into Cache; only then is the
// file the helper wrote removed. The calls into the module, its instances
// and the host code all run, and are checked, in the test binary as before.
//
// Cache is then backed by a directory of the process's own, which the
// modules the test binary still compiles itself (another variant of a
// module, as WithoutCallTimeout makes) also pass through, and which Load
// empties after each load. A process that dies leaves its empty directory
// behind, and the next removes it.
//
// The helper failing (no go command, a module cache that cannot be
// written) only costs time: the test binary compiles the module itself.

// wazeroVersionVar is wazero's version variable, which its compilation
// cache writes into every entry and checks on load. Test binaries carry no
// module versions, so wazero calls itself "dev" in them; the helper is
// built with the test binary's idea of the version (wazeroVersion).
const wazeroVersionVar = "github.com/tetratelabs/wazero/internal/version.version"

const cacheDirPrefix = "emmett-wasmtest-"

var (
	precompileMu   sync.Mutex // held while moving compiled code into Cache's directory and loading it
	cacheDirPath   string     // Cache's directory, under the race detector
	precompileWarn sync.Once
)

// newCache returns the compilation cache Cache shares: in memory, or under
// the race detector backed by a directory of the process's own.
func newCache() wazero.CompilationCache {
	if !raceEnabled {
		return wazero.NewCompilationCache()
	}
	removeStaleCacheDirs()
	dir, err := os.MkdirTemp("", cacheDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err == nil {
		var c wazero.CompilationCache
		if c, err = wazero.NewCompilationCacheWithDir(dir); err == nil {
			cacheDirPath = dir
			return c
		}
		_ = os.RemoveAll(dir)
	}
	warnPrecompile(err, nil)
	return wazero.NewCompilationCache()
}

// precompiled records the modules precompile has handled: a module and
// variant is compiled once per process.
var precompiled sync.Map // key: sha256 of the module and the variant -> *sync.Once

// precompile compiles bin outside the race detector and loads the result
// into Cache (see above), as wasm.Load compiles it by default
// (interruptible: instrumented, see package interrupt) or with
// WithoutCallTimeout; it does nothing without the race detector.
func precompile(bin []byte, interruptible bool) {
	if !raceEnabled {
		return
	}
	key := fmt.Sprintf("%x/%t", sha256.Sum256(bin), interruptible)
	once, _ := precompiled.LoadOrStore(key, &sync.Once{})
	once.(*sync.Once).Do(func() { precompileOnce(bin, interruptible) })
}

func precompileOnce(bin []byte, interruptible bool) {
	cache := Cache()
	if cacheDirPath == "" {
		return
	}
	work, err := os.MkdirTemp("", cacheDirPrefix+strconv.Itoa(os.Getpid())+"-precompile-")
	if err != nil {
		warnPrecompile(err, nil)
		return
	}
	defer os.RemoveAll(work)
	module, out := filepath.Join(work, "module.wasm"), filepath.Join(work, "cache")
	if err := os.WriteFile(module, bin, 0o600); err != nil {
		warnPrecompile(err, nil)
		return
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		warnPrecompile(err, nil)
		return
	}
	helper := reflect.TypeFor[build]().PkgPath() + "/internal/precompile"
	cmd := exec.Command(gocmd, "run", "-race=false", "-ldflags=-X="+wazeroVersionVar+"="+wazeroVersion(),
		helper, "-interruptible="+strconv.FormatBool(interruptible), out, module)
	if output, err := cmd.CombinedOutput(); err != nil {
		warnPrecompile(err, output)
		return
	}

	precompileMu.Lock()
	defer precompileMu.Unlock()
	subdirs, _ := os.ReadDir(out)
	for _, sub := range subdirs {
		entries, _ := os.ReadDir(filepath.Join(out, sub.Name()))
		for _, e := range entries {
			dst := filepath.Join(cacheDirPath, sub.Name())
			if err := os.MkdirAll(dst, 0o700); err != nil {
				warnPrecompile(err, nil)
				return
			}
			if err := os.Rename(filepath.Join(out, sub.Name(), e.Name()), filepath.Join(dst, e.Name())); err != nil {
				warnPrecompile(err, nil)
				return
			}
		}
	}
	// Load the compiled code into the cache's memory, where it stays for
	// the process (closing a wasm.Module does not release it).
	ctx := context.Background()
	code := bin
	if interruptible {
		if code, err = interrupt.Instrument(bin); err != nil {
			warnPrecompile(err, nil)
			return
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	_, err = rt.CompileModule(ctx, code)
	_ = rt.Close(ctx)
	if err != nil {
		warnPrecompile(err, nil)
	}
	removeCachedFilesLocked()
}

// interruptible reports whether wasm.Load compiles a module with opts as
// it does by default, instrumented so that its calls can be stopped:
// WithoutCallTimeout is the one option that changes the compiled code.
func interruptible(opts []wasm.Option) bool {
	all := make([]any, len(opts))
	for i, o := range opts {
		all[i] = o
	}
	return loadopts.Interruptible(all)
}

// emptyCacheDir removes the compiled code that loads left in Cache's
// directory: it is in the cache's memory by then.
func emptyCacheDir() {
	if !raceEnabled || cacheDirPath == "" {
		return
	}
	precompileMu.Lock()
	defer precompileMu.Unlock()
	removeCachedFilesLocked()
}

func removeCachedFilesLocked() {
	subdirs, _ := os.ReadDir(cacheDirPath)
	for _, sub := range subdirs {
		entries, _ := os.ReadDir(filepath.Join(cacheDirPath, sub.Name()))
		for _, e := range entries {
			// wazero writes an entry to a temporary file, renamed once
			// complete, after the code is in memory: leave those.
			if !strings.HasSuffix(e.Name(), ".tmp") {
				_ = os.Remove(filepath.Join(cacheDirPath, sub.Name(), e.Name()))
			}
		}
	}
}

// wazeroVersion is the version wazero's compilation cache uses in this
// binary: that of the module requiring github.com/tetratelabs/wazero in
// its build information, "dev" without one (as in test binaries). It
// follows wazero's internal/version.
func wazeroVersion() string {
	v := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if strings.Contains(dep.Path, "github.com/tetratelabs/wazero") {
				v = dep.Version
			}
		}
		if v == "" || v == "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}

func warnPrecompile(err error, output []byte) {
	precompileWarn.Do(func() {
		msg := fmt.Sprintf("wasmtest: compiling modules outside the race detector failed, so the test binary compiles them (slowly): %v", err)
		if s := strings.TrimSpace(string(output)); s != "" {
			msg += "\n" + s
		}
		fmt.Fprintln(os.Stderr, msg)
	})
}

// removeStaleCacheDirs removes the directories of test processes that are
// gone.
func removeStaleCacheDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), cacheDirPrefix+"*"))
	for _, dir := range dirs {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), cacheDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}
