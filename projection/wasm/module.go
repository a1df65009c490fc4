package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmett-go/emmett/projection/wasm/internal/interrupt"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Defaults of a Module's limits.
const (
	// DefaultMemoryLimit bounds an instance's linear memory.
	DefaultMemoryLimit = 64 << 20
	// DefaultCallTimeout bounds each call into an instance.
	DefaultCallTimeout = time.Second
)

const pageSize = 64 << 10

// Option configures a Module.
type Option func(*config)

type config struct {
	name         string
	memoryLimit  uint64
	timeout      time.Duration
	uninterrupt  bool
	maxInstances int
	cache        wazero.CompilationCache
	output       io.Writer
}

// WithName names the module in errors; by default a module loaded from a
// file is named after the file, and one loaded from bytes "module".
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithMemoryLimit bounds the linear memory of each instance, in bytes
// (rounded up to 64 KiB pages; at most 4 GiB). An instance that needs more
// traps, and the call fails with ErrMemoryLimit. DefaultMemoryLimit when
// not given.
func WithMemoryLimit(bytes uint64) Option { return func(c *config) { c.memoryLimit = bytes } }

// WithCallTimeout bounds the time of each call into an instance (one
// batch of events through evolve or transform). An instance that runs
// longer is stopped and discarded, and the call fails with ErrTimeout.
// DefaultCallTimeout when not given. An instance's initialisation
// (_initialize) gets d or 10 s, whichever is longer.
//
// The bound is kept by the module itself: it is compiled with a budget
// counted down at every branch back to a loop, and calls the host whenever
// it runs out (every 16,384 back branches), which stops the call there once
// its time is up or its context has ended (see README.md, Limits and
// failures).
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithoutCallTimeout compiles the module without the checks that let the
// host stop a running call, and so without a call timeout: a call that
// never returns blocks its caller forever, and cancelling the caller's
// context does not stop it (it is checked only before each call). Memory
// stays bounded.
//
// Without the budget, nothing leaves the compiled code during a call:
// every garbage collection of the process waits for the call to return.
// The budget costs a few instructions per branch back to a loop (10 to 20%
// of a Go module's time, see docs/performance.md). Use it only for modules
// trusted as much as the application's own code.
func WithoutCallTimeout() Option { return func(c *config) { c.uninterrupt = true } }

// WithMaxInstances bounds the number of instances running at once; calls
// beyond it wait for an instance. GOMAXPROCS when not given.
func WithMaxInstances(n int) Option { return func(c *config) { c.maxInstances = n } }

// WithCompilationCache shares compiled code between modules (and, with
// wazero.NewCompilationCacheWithDir, between processes): loading a module
// that was compiled before with the same cache skips the compilation.
func WithCompilationCache(cache wazero.CompilationCache) Option {
	return func(c *config) { c.cache = cache }
}

// WithOutput copies what the module's instances write to stdout and stderr
// to w (a log, say), which must be safe for concurrent use; by default it
// is discarded. Whatever w is, the first
// kilobytes a call writes to stderr are kept to explain a trap (the
// message of a Go panic).
func WithOutput(w io.Writer) Option { return func(c *config) { c.output = w } }

// Module is a compiled WebAssembly module implementing the Emmett ABI, and
// a pool of its instances. It is compiled once, by Load; each instance is
// used by one call at a time, and instances are created on demand up to
// WithMaxInstances. An instance that traps, times out or returns a
// malformed result is discarded, and a fresh one takes its place on the
// next call.
//
// A Module is safe for concurrent use. Close it to release the compiled
// code and the instances.
type Module struct {
	name     string
	cfg      config
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	desc     Description
	abi      int // the module's ABI version

	slots chan struct{} // one token per instance in use
	mu    sync.Mutex
	idle  []*instance
	done  atomic.Bool
}

// LoadFile loads a module from a .wasm file; see Load.
func LoadFile(ctx context.Context, path string, opts ...Option) (*Module, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return Load(ctx, bin, append([]Option{WithName(name)}, opts...)...)
}

// Load compiles a module and checks that it implements the ABI: it
// instantiates it once and reads its description (emmett_describe). The
// module may import WASI preview 1 (wasi_snapshot_preview1), and nothing
// else; it runs without a file system, environment, arguments or network,
// with a fake clock and a deterministic random source.
func Load(ctx context.Context, bin []byte, opts ...Option) (*Module, error) {
	cfg := config{name: "module", memoryLimit: DefaultMemoryLimit, timeout: DefaultCallTimeout, maxInstances: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.memoryLimit == 0 || cfg.memoryLimit > 1<<32 {
		return nil, fmt.Errorf("wasm: memory limit of %d bytes: use 1 to %d", cfg.memoryLimit, uint64(1)<<32)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("wasm: call timeout %s: must be positive", cfg.timeout)
	}
	cfg.maxInstances = max(cfg.maxInstances, 1)
	pages := uint32((cfg.memoryLimit + pageSize - 1) / pageSize)

	// wazero's own checks (WithCloseOnContextDone) leave the compiled code
	// for the Go runtime at every loop header; the module's own countdown
	// (see package interrupt) does so once in 16,384 back branches.
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(pages).WithCloseOnContextDone(false)
	if cfg.cache != nil {
		rc = rc.WithCompilationCache(cfg.cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	m := &Module{name: cfg.name, cfg: cfg, rt: rt, slots: make(chan struct{}, cfg.maxInstances)}
	if err := m.load(ctx, bin); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return m, nil
}

func (m *Module) load(ctx context.Context, bin []byte) error {
	code := bin
	if !m.cfg.uninterrupt {
		var err error
		if code, err = interrupt.Instrument(bin); err != nil {
			// wazero's error, when it refuses the module too, says more.
			if _, cerr := m.rt.CompileModule(ctx, bin); cerr != nil {
				return fmt.Errorf("wasm: compiling module %q: %w", m.name, cerr)
			}
			return fmt.Errorf("wasm: module %q: %w, so its calls cannot be bounded in time (WithoutCallTimeout runs it as it is, unbounded)", m.name, err)
		}
	}
	compiled, err := m.rt.CompileModule(ctx, code)
	if err != nil {
		return fmt.Errorf("wasm: compiling module %q: %w", m.name, err)
	}
	if !m.cfg.uninterrupt {
		if err := m.instantiateCheck(ctx); err != nil {
			return err
		}
	}
	m.compiled = compiled
	if err := m.checkImports(); err != nil {
		return err
	}
	if len(compiled.ExportedMemories()) == 0 {
		return m.abiError("exports no memory")
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
		return fmt.Errorf("wasm: instantiating WASI for module %q: %w", m.name, err)
	}
	exports := compiled.ExportedFunctions()
	if _, command := exports["_start"]; command {
		if _, reactor := exports[exportInitialize]; !reactor {
			return m.abiError("is a WASI command (it exports _start): build it as a reactor (Go: -buildmode=c-shared)")
		}
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	need := []struct {
		name           string
		params, result []api.ValueType
	}{
		{exportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
		{exportFree, []api.ValueType{i32, i32}, nil},
		{exportDescribe, nil, []api.ValueType{i64}},
	}
	for _, n := range need {
		if err := m.checkExport(exports, n.name, n.params, n.result); err != nil {
			return err
		}
	}

	// Instantiate once, to read the description; the instance is the
	// pool's first.
	m.slots <- struct{}{}
	inst, err := m.instantiate(ctx)
	if err != nil {
		<-m.slots
		return err
	}
	defer m.release(inst)
	out, err := m.call(ctx, inst, exportDescribe, inst.fn(exportDescribe), nil)
	if err != nil {
		return err
	}
	var d describeResult
	if err := json.Unmarshal(out, &d); err != nil {
		return m.malformed(inst, exportDescribe, out, err)
	}
	switch {
	case d.Error != nil:
		return m.guestError(exportDescribe, *d.Error)
	case d.ABI < 1 || d.ABI > ABIVersion:
		return m.abiError(fmt.Sprintf("implements ABI version %d, the host implements versions 1 to %d", d.ABI, ABIVersion))
	case d.Projection == nil && d.Transform == nil:
		return m.abiError("describes neither a projection nor a transform")
	}
	in := []api.ValueType{i32, i32}
	out64 := []api.ValueType{i64}
	evolve, ids, transform := exportEvolve, exportDocumentIDs, exportTransform
	if d.ABI >= 2 {
		evolve, ids, transform = exportEvolveBatch, exportDocumentIDsBatch, exportTransformBatch
	}
	if d.Projection != nil {
		if err := m.checkExport(exports, evolve, in, out64); err != nil {
			return err
		}
		if d.Projection.DocumentIDs {
			if err := m.checkExport(exports, ids, in, out64); err != nil {
				return err
			}
		}
	}
	if d.Transform != nil {
		if err := m.checkExport(exports, transform, in, out64); err != nil {
			return err
		}
	}
	if d.ABI < 2 {
		// Version 1 has no envelope fields to choose: every member.
		if d.Projection != nil {
			d.Projection.Fields = nil
		}
		if d.Transform != nil {
			d.Transform.Fields = nil
		}
	}
	m.desc = d.Description
	m.abi = d.ABI
	return nil
}

// ABI returns the version of the ABI the module implements (1 or 2): a
// module of version 1 is called once per document's run of events (a
// projection) or per event (a transformation), one of version 2 once per
// batch.
func (m *Module) ABI() int { return m.abi }

func (m *Module) checkImports() error {
	for _, f := range m.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod == interrupt.ImportModule && !m.cfg.uninterrupt {
			continue // the host's check, which the instrumentation added
		}
		if mod != wasiModule {
			return m.abiError(fmt.Sprintf("imports %s.%s: the host provides only %s", mod, name, wasiModule))
		}
	}
	for _, mem := range m.compiled.ImportedMemories() {
		mod, name, _ := mem.Import()
		return m.abiError(fmt.Sprintf("imports its memory (%s.%s): it must define and export it", mod, name))
	}
	return nil
}

func (m *Module) checkExport(exports map[string]api.FunctionDefinition, name string, params, results []api.ValueType) error {
	f, ok := exports[name]
	if !ok {
		return m.abiError("does not export " + name)
	}
	if !sameTypes(f.ParamTypes(), params) || !sameTypes(f.ResultTypes(), results) {
		return m.abiError(fmt.Sprintf("exports %s%s, the ABI wants %s%s", name,
			signature(f.ParamTypes(), f.ResultTypes()), name, signature(params, results)))
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("(%s) -> (%s)", names(params), names(results))
}

func (m *Module) abiError(reason string) error {
	return fmt.Errorf("%w: module %q %s", ErrABI, m.name, reason)
}

// Name returns the module's name.
func (m *Module) Name() string { return m.name }

// Description returns what the module reported of itself when loaded.
func (m *Module) Description() Description {
	d := m.desc
	if p := d.Projection; p != nil {
		d.Projection = &ProjectionDescription{EventTypes: slices.Clone(p.EventTypes), DocumentIDs: p.DocumentIDs, Fields: slices.Clone(p.Fields)}
	}
	if t := d.Transform; t != nil {
		d.Transform = &TransformDescription{EventTypes: slices.Clone(t.EventTypes), Fields: slices.Clone(t.Fields)}
	}
	return d
}

// Close discards the module's instances and compiled code. Calls in
// progress fail; later calls fail with ErrClosed.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	m.done.Store(true)
	idle := m.idle
	m.idle = nil
	m.mu.Unlock()
	for _, inst := range idle {
		inst.close(ctx)
	}
	return m.rt.Close(ctx)
}

func (m *Module) closed() bool { return m.done.Load() }

// errInterrupted is the panic of the host's check that stops a call: its
// time is up, its context ended or the module was closed.
var errInterrupted = errors.New("wasm: call interrupted")

// instantiateCheck provides the host's check that an instrumented module
// calls when its budget runs out (see package interrupt): it stops the
// call, by panicking (wazero turns the panic into the call's error), once
// the call's context is done, its deadline past or the module closed, and
// returns the next budget otherwise. Every such call is also a point where
// the Go runtime can preempt the goroutine, which it cannot do in compiled
// code: a garbage collection that stops the world waits for the next one.
func (m *Module) instantiateCheck(ctx context.Context) error {
	check := api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
		if ctx.Err() != nil || m.closed() {
			panic(errInterrupted)
		}
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			panic(errInterrupted)
		}
		stack[0] = interrupt.Budget
	})
	_, err := m.rt.NewHostModuleBuilder(interrupt.ImportModule).NewFunctionBuilder().
		WithGoModuleFunction(check, nil, []api.ValueType{api.ValueTypeI32}).Export(interrupt.ImportName).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("wasm: module %q: %w", m.name, err)
	}
	return nil
}

// instance is one instance of the module, used by one call at a time.
type instance struct {
	mod    api.Module
	mem    api.Memory
	fns    map[string]api.Function
	stderr *capture
	stack  [2]uint64
	inPtr  uint32 // the input buffer, from emmett_alloc
	inCap  uint32
	broken bool // trapped, timed out or misbehaved: discard it

	scratch []byte // a caller's buffer for the input, reused from call to call
}

func (inst *instance) fn(name string) api.Function { return inst.fns[name] }

func (inst *instance) close(ctx context.Context) { _ = inst.mod.Close(ctx) }

// acquire returns an idle instance, or a new one when none is idle and
// fewer than the maximum are in use; otherwise it waits.
func (m *Module) acquire(ctx context.Context) (*instance, error) {
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wasm module %q: waiting for an instance: %w", m.name, context.Cause(ctx))
	}
	m.mu.Lock()
	if m.closed() {
		m.mu.Unlock()
		<-m.slots
		return nil, fmt.Errorf("%w: %q", ErrClosed, m.name)
	}
	if n := len(m.idle); n > 0 {
		inst := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return inst, nil
	}
	m.mu.Unlock()
	inst, err := m.instantiate(ctx)
	if err != nil {
		<-m.slots
		return nil, err
	}
	return inst, nil
}

// release returns an instance to the pool, or discards it.
func (m *Module) release(inst *instance) {
	m.mu.Lock()
	if inst.broken || m.closed() || inst.mod.IsClosed() {
		m.mu.Unlock()
		inst.close(context.Background())
	} else {
		m.idle = append(m.idle, inst)
		m.mu.Unlock()
	}
	<-m.slots
}

func (m *Module) instantiate(ctx context.Context) (*instance, error) {
	stderr := &capture{tee: m.cfg.output}
	stdout := io.Discard
	if m.cfg.output != nil {
		stdout = m.cfg.output
	}
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions(exportInitialize).
		WithStdout(stdout).WithStderr(stderr)
	// Starting an instance runs the module's own initialisation (a Go
	// guest starts its runtime): it happens once per instance and may take
	// longer than a call, so it gets a bound of its own.
	callCtx, cancel := ctx, context.CancelFunc(func() {})
	if !m.cfg.uninterrupt {
		callCtx, cancel = context.WithTimeout(ctx, max(m.cfg.timeout, minInitTimeout))
	}
	defer cancel()
	if memoryAllocator != nil {
		callCtx = experimental.WithMemoryAllocator(callCtx, memoryAllocator)
	}
	mod, err := m.rt.InstantiateModule(callCtx, m.compiled, mc)
	if err != nil {
		ce := m.classify(ctx, callCtx, nil, stderr, exportInitialize, err)
		if mod != nil {
			_ = mod.Close(ctx)
		}
		return nil, ce
	}
	inst := &instance{mod: mod, mem: mod.Memory(), stderr: stderr, fns: map[string]api.Function{}}
	for _, name := range []string{exportAlloc, exportFree, exportDescribe, exportEvolve, exportDocumentIDs, exportTransform,
		exportEvolveBatch, exportDocumentIDsBatch, exportTransformBatch} {
		if f := mod.ExportedFunction(name); f != nil {
			inst.fns[name] = f
		}
	}
	if inst.mem == nil {
		_ = mod.Close(ctx)
		return nil, m.abiError("has no memory")
	}
	return inst, nil
}

// call writes input into the instance's input buffer and calls fn with it
// (fn without parameters when input is nil), under the call timeout. It
// returns the result's bytes, a view of the instance's memory valid until
// the next call on the instance.
func (m *Module) call(ctx context.Context, inst *instance, name string, fn api.Function, input []byte) ([]byte, error) {
	callCtx, cancel := m.callContext(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, &CallError{Module: m.name, Function: name, Kind: context.Cause(ctx), Detail: "the caller's context ended"}
	}
	inst.stderr.reset()
	if input != nil {
		ptr, err := m.buffer(callCtx, inst, uint32(len(input)))
		if err != nil {
			return nil, m.classify(ctx, callCtx, inst, inst.stderr, exportAlloc, err)
		}
		if !inst.mem.Write(ptr, input) {
			inst.broken = true
			return nil, &CallError{Module: m.name, Function: exportAlloc, Kind: ErrMalformedResult,
				Detail: fmt.Sprintf("buffer [%d, +%d) is out of memory", ptr, len(input))}
		}
		inst.stack[0], inst.stack[1] = uint64(ptr), uint64(len(input))
	}
	if err := fn.CallWithStack(callCtx, inst.stack[:]); err != nil {
		return nil, m.classify(ctx, callCtx, inst, inst.stderr, name, err)
	}
	packed := inst.stack[0]
	ptr, size := uint32(packed>>32), uint32(packed)
	out, ok := inst.mem.Read(ptr, size)
	switch {
	case size == 0:
		inst.broken = true
		return nil, &CallError{Module: m.name, Function: name, Kind: ErrMalformedResult, Detail: "empty result"}
	case !ok:
		inst.broken = true
		return nil, &CallError{Module: m.name, Function: name, Kind: ErrMalformedResult,
			Detail: fmt.Sprintf("result [%d, +%d) is out of the module's memory of %d bytes", ptr, size, inst.mem.Size())}
	}
	return out, nil
}

// minInitTimeout is the least time an instance's initialisation is given.
const minInitTimeout = 10 * time.Second

// callContext is the context of one call: ctx with the call timeout,
// unless the module is compiled without the checks that enforce it.
func (m *Module) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.cfg.uninterrupt {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, m.cfg.timeout)
}

// buffer returns a guest buffer of at least n bytes for the input,
// growing the instance's one when needed.
func (m *Module) buffer(ctx context.Context, inst *instance, n uint32) (uint32, error) {
	if n <= inst.inCap && inst.inCap > 0 {
		return inst.inPtr, nil
	}
	if inst.inCap > 0 {
		inst.stack[0], inst.stack[1] = uint64(inst.inPtr), uint64(inst.inCap)
		if err := inst.fn(exportFree).CallWithStack(ctx, inst.stack[:]); err != nil {
			return 0, err
		}
		inst.inPtr, inst.inCap = 0, 0
	}
	size := max(n, 4096)
	if size < 1<<30 {
		size = max(size, min(2*n, 1<<30))
	}
	inst.stack[0] = uint64(size)
	if err := inst.fn(exportAlloc).CallWithStack(ctx, inst.stack[:]); err != nil {
		return 0, err
	}
	ptr := uint32(inst.stack[0])
	if ptr == 0 || uint64(ptr)+uint64(size) > uint64(inst.mem.Size()) {
		return 0, fmt.Errorf("emmett_alloc(%d) returned %d, not a buffer in the module's memory of %d bytes", size, ptr, inst.mem.Size())
	}
	inst.inPtr, inst.inCap = ptr, size
	return ptr, nil
}

// classify turns a failed call into a *CallError and marks the instance
// for discarding.
func (m *Module) classify(parent, callCtx context.Context, inst *instance, stderr *capture, name string, err error) error {
	if inst != nil {
		inst.broken = true
	}
	ce := &CallError{Module: m.name, Function: name, Err: err}
	var exit *sys.ExitError
	switch {
	case parent.Err() != nil:
		ce.Kind, ce.Detail = context.Cause(parent), "the caller's context ended"
	case errors.Is(err, errInterrupted) && m.closed():
		ce.Kind, ce.Detail = ErrClosed, "the module was closed during the call"
	case callCtx.Err() != nil || errors.Is(err, errInterrupted):
		bound := m.cfg.timeout
		if name == exportInitialize {
			bound = max(bound, minInitTimeout)
		}
		ce.Kind, ce.Detail = ErrTimeout, fmt.Sprintf("no result after %s; the instance was stopped", bound)
	default:
		ce.Kind = ErrTrap
		detail := panicMessage(stderr.String())
		if detail == "" {
			detail = excerpt(firstLine(err.Error()), 300)
			if errors.As(err, &exit) {
				detail = fmt.Sprintf("exited with code %d", exit.ExitCode())
			}
		}
		ce.Detail = detail
		limit := m.cfg.memoryLimit
		if strings.Contains(stderr.String(), "out of memory") ||
			(inst != nil && uint64(inst.mem.Size())+min(limit/16, 4<<20) >= limit) {
			ce.Kind = ErrMemoryLimit
			ce.Detail = fmt.Sprintf("memory limit of %s: %s", byteSize(limit), detail)
		}
	}
	return ce
}

// malformed reports a result that does not follow the ABI.
func (m *Module) malformed(inst *instance, name string, out []byte, err error) error {
	inst.broken = true
	return &CallError{Module: m.name, Function: name, Kind: ErrMalformedResult,
		Detail: fmt.Sprintf("%v in %q", err, excerpt(string(out), 200))}
}

// guestError reports an error the module returned.
func (m *Module) guestError(name, msg string) error {
	return &CallError{Module: m.name, Function: name, Kind: ErrGuest, Detail: msg}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func byteSize(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// capture keeps the first bytes written to a guest's stderr since the last
// reset, and copies everything to tee.
type capture struct {
	mu  sync.Mutex
	buf []byte
	tee io.Writer
}

const captureLimit = 4 << 10

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	if room := captureLimit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	c.mu.Unlock()
	if c.tee != nil {
		_, _ = c.tee.Write(p)
	}
	return len(p), nil
}

func (c *capture) reset() {
	c.mu.Lock()
	c.buf = c.buf[:0]
	c.mu.Unlock()
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}
