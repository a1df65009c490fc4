//go:build !(js || wasip1)

// Package wasi runs the sample app's command handling "serverless": the
// module in module/, compiled to wasip1, is started by wazero for each
// request, handles it on a SQLite file and exits. Compiling the module is
// done once (Host); each request pays the module's cold start:
// instantiating it, Go's runtime start, opening the database.
package wasi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Build compiles the module to wasip1 at path.
func Build(ctx context.Context, path string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-o", path, "github.com/emmett-go/emmett/examples/shoppingcart/wasi/module")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("wasi: building the module: %w\n%s", err, out)
	}
	return nil
}

// Host runs the module once per request on the database files in a
// directory, one request at a time (the driver cannot lock files on
// wasip1).
type Host struct {
	mu      sync.Mutex
	runtime wazero.Runtime
	module  wazero.CompiledModule
	dataDir string
}

// Option configures a Host.
type Option func(*config)

type config struct{ cacheDir string }

// WithCompilationCache keeps wazero's compiled code in dir, so that a
// host started again on the same module skips compiling it (seconds for
// the 20 MB module).
func WithCompilationCache(dir string) Option { return func(c *config) { c.cacheDir = dir } }

// NewHost compiles the module at wasmPath (once) for requests on the
// database in dataDir (carts.db). Close it when done.
func NewHost(ctx context.Context, wasmPath, dataDir string, opts ...Option) (*Host, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, err
	}
	rtCfg := wazero.NewRuntimeConfig()
	if cfg.cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasi: the compilation cache: %w", err)
		}
		rtCfg = rtCfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rtCfg)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.CompileModule(ctx, bin)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("wasi: compiling %s: %w", filepath.Base(wasmPath), err)
	}
	return &Host{runtime: rt, module: mod, dataDir: dataDir}, nil
}

// Close frees the compiled module.
func (h *Host) Close(ctx context.Context) error { return h.runtime.Close(ctx) }

// Do starts the module, has it handle req, and returns its response once
// it has exited.
func (h *Host) Do(ctx context.Context, req Request) (Response, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	var out, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithStdin(bytes.NewReader(in)).WithStdout(&out).WithStderr(&stderr).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(h.dataDir, "/data")).
		WithSysWalltime().WithSysNanotime().WithRandSource(randReader{}).
		WithName("") // a fresh, anonymous instance per request
	h.mu.Lock()
	defer h.mu.Unlock()
	mod, err := h.runtime.InstantiateModule(ctx, h.module, cfg)
	if mod != nil {
		_ = mod.Close(ctx)
	}
	if err != nil && !isExitZero(err) {
		return Response{}, fmt.Errorf("wasi: the module failed: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var resp Response
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return Response{}, fmt.Errorf("wasi: the module's answer: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return resp, nil
}

// ServeHTTP serves r through the module.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := h.Do(r.Context(), Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header, Body: string(body)})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.Status)
	_, _ = io.WriteString(w, resp.Body)
}
