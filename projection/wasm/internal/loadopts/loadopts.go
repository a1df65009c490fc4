// Package loadopts tells wasmtest how wasm.Load compiles a module given its
// options, which keep their settings unexported.
package loadopts

// Interruptible reports whether wasm.Load, given opts (wasm.Option
// values), compiles the module instrumented so that its calls can be
// stopped (package interrupt), as it does unless WithoutCallTimeout is
// given. Package wasm sets it.
var Interruptible func(opts []any) bool
