package interrupt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// A small assembler for the modules of the tests.

func vec(items ...[]byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func str(s string) []byte { return appendName(nil, s) }

func sec(id byte, content []byte) []byte {
	out := append([]byte{id}, binary.AppendUvarint(nil, uint64(len(content)))...)
	return append(out, content...)
}

func u(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func body(code ...byte) []byte {
	b := append([]byte{0x00}, code...) // no locals
	b = append(b, 0x0b)
	return append(u(uint64(len(b))), b...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// sample is a module that uses every kind of function reference the
// rewrite renumbers: an imported function (env.add1: i32 -> i32), calls,
// call_indirect through a table filled by an element segment, ref.func in
// a global's initializer and in code, a start function, exports, and a
// name section. Its exports:
//
//	run() -> i32      calls twice (directly and through the table) a
//	                  function that calls the import (1 each), and adds
//	                  the global the start function set (40): 42
//	count(n) -> i32   a loop of n iterations, returns n
//	spin()            loops forever
//	isnull() -> i32   ref.is_null of the funcref global: 0
func sample() []byte {
	// Types: 0: i32 -> i32, 1: () -> i32, 2: () -> ().
	types := sec(1, vec(
		[]byte{0x60, 1, 0x7f, 1, 0x7f},
		[]byte{0x60, 0, 1, 0x7f},
		[]byte{0x60, 0, 0},
	))
	imports := sec(2, vec(cat(str("env"), str("add1"), []byte{0x00, 0x00})))
	// Functions (after the import, index 0): 1 one() -> i32, 2 run, 3
	// count, 4 spin, 5 start, 6 isnull.
	funcs := sec(3, vec([]byte{1}, []byte{1}, []byte{0}, []byte{2}, []byte{2}, []byte{1}))
	table := sec(4, vec([]byte{0x70, 0x00, 0x01})) // funcref, min 1
	memory := sec(5, vec([]byte{0x00, 0x01}))
	// Globals: 0 mut i32 = 0 (set by start), 1 funcref = ref.func 1.
	globals := sec(6, vec(
		[]byte{0x7f, 0x01, 0x41, 0x00, 0x0b},
		[]byte{0x70, 0x00, 0xd2, 0x01, 0x0b},
	))
	exports := sec(7, vec(
		cat(str("run"), []byte{0x00, 2}),
		cat(str("count"), []byte{0x00, 3}),
		cat(str("spin"), []byte{0x00, 4}),
		cat(str("isnull"), []byte{0x00, 6}),
		cat(str("memory"), []byte{0x02, 0}),
	))
	start := sec(8, []byte{5})
	elems := sec(9, vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x01})) // table 0 at 0: func 1
	code := sec(10, vec(
		// one: i32.const 0, call add1
		body(0x41, 0x00, 0x10, 0x00),
		// run: call one, i32.const 0, call_indirect (type 1) table 0, add, global.get 0, add
		body(0x10, 0x01, 0x41, 0x00, 0x11, 0x01, 0x00, 0x6a, 0x23, 0x00, 0x6a),
		// count(n): loop: local.get 0, br_if on n != i... simple: i32 local counts down
		//   block loop local.get 0 i32.eqz br_if 1 local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end
		//   then return the original n: recomputed by the caller; here return 7 after the loop
		countBody(),
		// spin: loop br 0 end
		body(0x03, 0x40, 0x0c, 0x00, 0x0b),
		// start: i32.const 40, global.set 0
		body(0x41, 40, 0x24, 0x00),
		// isnull: ref.func 4, ref.is_null ... then global.get 1 ref.is_null, add
		body(0xd2, 0x04, 0xd1, 0x23, 0x01, 0xd1, 0x6a),
	))
	// Names: function 1 "one", 3 "count"; locals of 3: 0 "n".
	names := cat(str("name"),
		[]byte{1}, u(uint64(len(vec(cat(u(1), str("one")), cat(u(3), str("count")))))), vec(cat(u(1), str("one")), cat(u(3), str("count"))),
		[]byte{2}, u(uint64(len(vec(cat(u(3), vec(cat(u(0), str("n")))))))), vec(cat(u(3), vec(cat(u(0), str("n"))))),
	)
	custom := sec(0, names)
	debug := sec(0, cat(str(".debug_info"), []byte{1, 2, 3}))
	return cat([]byte("\x00asm\x01\x00\x00\x00"), types, imports, funcs, table, memory, globals, exports, start, elems, code, custom, debug)
}

// countBody counts its parameter down to 0 in a loop, and returns 7.
func countBody() []byte {
	return body(
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x20, 0x00, 0x45, 0x0d, 0x01, // local.get 0, i32.eqz, br_if 1
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, // n = n - 1
		0x0c, 0x00, // br 0
		0x0b, 0x0b, // end end
		0x41, 0x07, // i32.const 7
	)
}

type host struct {
	checks int
	stop   bool
}

var errStop = errors.New("stop")

func instantiate(t *testing.T, bin []byte, h *host, instrumented bool) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
	t.Cleanup(func() { _ = rt.Close(ctx) })
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) { stack[0]++ }), []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		Export("add1").Instantiate(ctx)
	require.NoError(t, err)
	if instrumented {
		_, err = rt.NewHostModuleBuilder(ImportModule).NewFunctionBuilder().
			WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
				h.checks++
				if h.stop {
					panic(errStop)
				}
				stack[0] = Budget
			}), nil, []api.ValueType{api.ValueTypeI32}).
			Export(ImportName).Instantiate(ctx)
		require.NoError(t, err)
	}
	mod, err := rt.Instantiate(ctx, bin)
	require.NoError(t, err)
	return mod
}

func call(t *testing.T, mod api.Module, name string, params ...uint64) uint64 {
	t.Helper()
	res, err := mod.ExportedFunction(name).Call(context.Background(), params...)
	require.NoError(t, err)
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func TestInstrumentedModuleBehavesAsTheOriginal(t *testing.T) {
	bin := sample()
	out, err := Instrument(bin)
	require.NoError(t, err)

	orig := instantiate(t, bin, nil, false)
	h := &host{}
	inst := instantiate(t, out, h, true)
	for _, m := range []api.Module{orig, inst} {
		assert.Equal(t, uint64(42), call(t, m, "run"), "calls, call_indirect through the element segment, the start function")
		assert.Equal(t, uint64(7), call(t, m, "count", 1000))
		assert.Equal(t, uint64(0), call(t, m, "isnull"), "ref.func in code and in a global")
	}
	// The names follow their functions.
	assert.Equal(t, "one", nameOf(t, bin, 1))
	assert.Equal(t, "one", nameOf(t, out, 2))
	assert.Equal(t, "count", nameOf(t, out, 4))
	assert.NotContains(t, string(out), ".debug_info")
	assert.Contains(t, string(out), ImportModule)
}

// nameOf returns the name the name section gives function i.
func nameOf(t *testing.T, bin []byte, i uint32) string {
	t.Helper()
	r := &reader{b: bin, i: 8}
	for !r.done() {
		id := r.byte()
		content := r.bytes(int(r.u32()))
		if id != secCustom || customName(content) != "name" {
			continue
		}
		cr := &reader{b: content}
		cr.name()
		for !cr.done() {
			sub := cr.byte()
			data := cr.bytes(int(cr.u32()))
			if sub != 1 {
				continue
			}
			sr := &reader{b: data}
			for range sr.u32() {
				idx, name := sr.u32(), sr.name()
				if idx == i {
					return name
				}
			}
		}
	}
	return ""
}

func TestInstrumentedLoopsCheckWithTheHost(t *testing.T) {
	out, err := Instrument(sample())
	require.NoError(t, err)
	h := &host{}
	mod := instantiate(t, out, h, true)

	// One check every Budget loop headers.
	call(t, mod, "count", 10*Budget)
	assert.InDelta(t, 10, h.checks, 1)

	// A module that loops forever stops when the host says so.
	h.stop = true
	_, err = mod.ExportedFunction("spin").Call(context.Background())
	require.ErrorIs(t, err, errStop)
}

func TestInstrumentRefusesWhatItCannotRewrite(t *testing.T) {
	_, err := Instrument([]byte("not wasm"))
	require.ErrorIs(t, err, ErrUnsupported)

	ours := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0, 1, 0x7f})),
		sec(2, vec(cat(str(ImportModule), str(ImportName), []byte{0x00, 0x00}))))
	_, err = Instrument(ours)
	require.ErrorIs(t, err, ErrUnsupported)
	assert.Contains(t, err.Error(), "reserves")

	unknown := cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec([]byte{0x60, 0, 0})), sec(3, vec([]byte{0})), sec(10, vec(body(0xff))))
	_, err = Instrument(unknown)
	require.ErrorIs(t, err, ErrUnsupported)
	assert.Contains(t, err.Error(), "instruction 0xff")
}

func TestInstrumentAnEmptyModule(t *testing.T) {
	out, err := Instrument([]byte("\x00asm\x01\x00\x00\x00"))
	require.NoError(t, err)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	_, err = rt.CompileModule(ctx, out)
	require.NoError(t, err)
}

func FuzzInstrument(f *testing.F) {
	f.Add(sample())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, bin []byte) {
		out, err := Instrument(bin) // never panics
		if err != nil {
			return
		}
		// What compiled before compiles after.
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		if _, err := rt.CompileModule(ctx, bin); err == nil {
			_, err = rt.CompileModule(ctx, out)
			require.NoError(t, err)
		}
	})
}
