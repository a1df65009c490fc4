//go:build !(js || wasip1)

// Package web serves the browser edition of the shopping cart: the page
// (static/), the cart compiled to js/wasm (app/, built by Build), and,
// on the same origin, the sample app's HTTP API that the page syncs with
// (its command endpoints and its SSE feed under /events/).
package web

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed static
var static embed.FS

// Build compiles the page's Go (package app) to js/wasm into dir, as
// app.wasm, and copies Go's wasm_exec.js there, which the page loads.
func Build(ctx context.Context, dir string) error {
	goBin := filepath.Join(goroot(ctx), "bin", "go")
	cmd := exec.CommandContext(ctx, goBin, "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "app.wasm"), "github.com/emmett-go/emmett/examples/shoppingcart/web/app")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("web: building the page's wasm: %w\n%s", err, out)
	}
	support, err := os.ReadFile(filepath.Join(goroot(ctx), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "wasm_exec.js"), support, 0o644)
}

// goroot returns the GOROOT of the go command on PATH (or of
// /usr/local/go).
func goroot(ctx context.Context) string {
	for _, goBin := range []string{"go", "/usr/local/go/bin/go"} {
		if out, err := exec.CommandContext(ctx, goBin, "env", "GOROOT").Output(); err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	return "/usr/local/go"
}

// Handler serves the page at /, the files Build wrote into wasmDir
// (app.wasm, wasm_exec.js), and every other path (/clients/...,
// /events/...) from api, the sample app's handler.
func Handler(api http.Handler, wasmDir string) http.Handler {
	page, _ := fs.Sub(static, "static")
	files := http.FileServerFS(page)
	built := http.FileServer(http.Dir(wasmDir))
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /app.wasm", built)
	mux.Handle("GET /wasm_exec.js", built)
	mux.Handle("/", api)
	return mux
}
