package wasm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/projection"
	"github.com/emmett-go/emmett/projection/wasm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Modules assembled by hand, as a compiler for another language would
// emit them: no WASI, no _initialize, no Go runtime. They show that the
// ABI needs nothing but its exports.

// Wasm opcodes and types used below.
const (
	i32 = 0x7f
	i64 = 0x7e
)

type wasmFunc struct {
	name    string
	params  []byte
	results []byte
	body    []byte // instructions, without the final end
}

type wasmModule struct {
	imports []string // imported functions "module.name", of type () -> ()
	funcs   []wasmFunc
	data    map[uint32]string
	noMem   bool
}

func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
}

func (m wasmModule) bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	var types, imports, funcs, exports, codes [][]byte
	for _, imp := range m.imports {
		mod, fn, _ := strings.Cut(imp, ".")
		types = append(types, []byte{0x60, 0, 0})
		imports = append(imports, append(append(name(mod), name(fn)...), 0x00, byte(len(types)-1)))
	}
	for i, f := range m.funcs {
		types = append(types, append(append([]byte{0x60}, vec(bytesOf(f.params)...)...), vec(bytesOf(f.results)...)...))
		funcs = append(funcs, uleb(uint64(len(types)-1)))
		exports = append(exports, append(name(f.name), append([]byte{0x00}, uleb(uint64(len(m.imports)+i))...)...))
		body := append([]byte{0x00}, f.body...) // no locals
		body = append(body, 0x0b)
		codes = append(codes, append(uleb(uint64(len(body))), body...))
	}
	out = append(out, section(1, vec(types...))...)
	if len(imports) > 0 {
		out = append(out, section(2, vec(imports...))...)
	}
	out = append(out, section(3, vec(funcs...))...)
	if !m.noMem {
		out = append(out, section(5, vec([]byte{0x00, 0x01}))...)
		exports = append(exports, append(name("memory"), 0x02, 0x00))
	}
	out = append(out, section(7, vec(exports...))...)
	out = append(out, section(10, vec(codes...))...)
	var segs [][]byte
	for off, s := range m.data {
		seg := append([]byte{0x00, 0x41}, sleb(int64(off))...)
		seg = append(seg, 0x0b)
		segs = append(segs, append(seg, name(s)...))
	}
	if len(segs) > 0 {
		out = append(out, section(11, vec(segs...))...)
	}
	return out
}

func bytesOf(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// constant returns the body of a function returning the packed result
// (offset, length of s).
func constant(off uint32, s string) []byte {
	return append([]byte{0x42}, sleb(int64(uint64(off)<<32|uint64(len(s))))...)
}

var (
	unreachable = []byte{0x00}
	spin        = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00} // loop br 0 end unreachable
)

const (
	describeJSON  = `{"abi":1,"projection":{"eventTypes":["Tick","Trap","Spin"]},"transform":{"eventTypes":["Old"]}}`
	documentJSON  = `{"document":{"constant":true}}`
	transformJSON = `{"events":[{"type":"New","data":{"from":"hand"}}]}`
)

// handmade is a module whose evolve returns a constant document, or runs
// the given body instead.
func handmade(evolve []byte, changes ...func(*wasmModule)) []byte {
	m := wasmModule{
		funcs: []wasmFunc{
			{"emmett_alloc", []byte{i32}, []byte{i32}, []byte{0x41, 0x80, 0x08}}, // i32.const 1024
			{"emmett_free", []byte{i32, i32}, nil, nil},
			{"emmett_describe", nil, []byte{i64}, constant(40000, describeJSON)},
			{"emmett_evolve", []byte{i32, i32}, []byte{i64}, evolve},
			{"emmett_transform", []byte{i32, i32}, []byte{i64}, constant(50000, transformJSON)},
		},
		data: map[uint32]string{40000: describeJSON, 45000: documentJSON, 50000: transformJSON},
	}
	for _, c := range changes {
		c(&m)
	}
	return m.bytes()
}

func loadHandmade(t *testing.T, bin []byte, opts ...wasm.Option) (*wasm.Module, error) {
	t.Helper()
	m, err := wasm.Load(context.Background(), bin, append([]wasm.Option{wasm.WithName("handmade")}, opts...)...)
	if err == nil {
		t.Cleanup(func() { _ = m.Close(context.Background()) })
	}
	return m, err
}

func TestHandmadeModule(t *testing.T) {
	m, err := loadHandmade(t, handmade(constant(45000, documentJSON)))
	require.NoError(t, err)
	assert.Equal(t, wasm.Description{
		Projection: &wasm.ProjectionDescription{EventTypes: []string{"Tick", "Trap", "Spin"}},
		Transform:  &wasm.TransformDescription{EventTypes: []string{"Old"}},
	}, m.Description())

	p, err := wasm.NewProjection(m, "constants")
	require.NoError(t, err)
	store := memory.New(memory.WithProjections(p))
	appendEvents(t, store, "s-1", event("Tick"), event("Other"))
	data, found, err := store.Documents().Get(context.Background(), "constants", "s-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.JSONEq(t, `{"constant":true}`, string(data))

	tr, err := wasm.NewTransformer(m)
	require.NoError(t, err)
	out, err := tr.TransformAppend(context.Background(), "s-1", []eventstore.EventData{event("Old"), event("Other")})
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.Equal(t, "New", out[0].Type)
	assert.JSONEq(t, `{"from":"hand"}`, string(out[0].Data))
	assert.Equal(t, "Other", out[1].Type)
}

// A module of ABI version 1 that chooses the documents: the host asks it
// once per event.
func TestHandmadeModuleVersion1DocumentIDs(t *testing.T) {
	const (
		describe1 = `{"abi":1,"projection":{"eventTypes":["Tick"],"documentIds":true}}`
		ids1      = `{"ids":["a","b"]}`
	)
	bin := handmade(constant(45000, documentJSON), func(m *wasmModule) {
		m.funcs[2].body = constant(40000, describe1)
		m.funcs = append(m.funcs, wasmFunc{"emmett_document_ids", []byte{i32, i32}, []byte{i64}, constant(55000, ids1)})
		m.data[40000], m.data[55000] = describe1, ids1
	})
	m, err := loadHandmade(t, bin)
	require.NoError(t, err)
	assert.Equal(t, 1, m.ABI())
	p, err := wasm.NewProjection(m, "constants")
	require.NoError(t, err)
	store := memory.New(memory.WithProjections(p))
	appendEvents(t, store, "s-1", event("Tick"), event("Tick"))
	for _, id := range []string{"a", "b"} {
		data, found, err := store.Documents().Get(context.Background(), "constants", id)
		require.NoError(t, err)
		require.True(t, found, id)
		assert.JSONEq(t, `{"constant":true}`, string(data))
	}
}

// A module of ABI version 2, by hand. Its results are constants: one
// document (or one event) per call, as an append to one stream gives it.
func TestHandmadeModuleVersion2(t *testing.T) {
	ctx := context.Background()
	const (
		describe2  = `{"abi":2,"projection":{"eventTypes":["Tick"]},"transform":{"eventTypes":["Old"]}}`
		documents2 = `{"documents":[{"document":{"constant":2}}]}`
		events2    = `{"events":[[{"type":"New","data":{"from":"hand 2"}}]]}`
	)
	bin := handmade(nil, func(m *wasmModule) {
		m.funcs = []wasmFunc{m.funcs[0], m.funcs[1],
			{"emmett_describe", nil, []byte{i64}, constant(40000, describe2)},
			{"emmett_evolve_batch", []byte{i32, i32}, []byte{i64}, constant(45000, documents2)},
			{"emmett_transform_batch", []byte{i32, i32}, []byte{i64}, constant(50000, events2)},
		}
		m.data = map[uint32]string{40000: describe2, 45000: documents2, 50000: events2}
	})
	m, err := loadHandmade(t, bin)
	require.NoError(t, err)
	assert.Equal(t, 2, m.ABI())

	p, err := wasm.NewProjection(m, "constants")
	require.NoError(t, err)
	store := memory.New(memory.WithProjections(p))
	appendEvents(t, store, "s-1", event("Tick"), event("Tick"))
	data, found, err := store.Documents().Get(ctx, "constants", "s-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.JSONEq(t, `{"constant":2}`, string(data))

	// Two documents in a call, one result: malformed.
	var batch []emmett.RecordedEvent
	for _, stream := range []string{"s-2", "s-3"} {
		appendEvents(t, store, stream, event("Other"))
	}
	for e, err := range store.ReadAll(ctx, eventstore.Position{}) {
		require.NoError(t, err)
		e.Type = "Tick"
		batch = append(batch, e)
	}
	err = store.Processors().Commit(ctx, "p", eventstore.Position{}, eventstore.Position{}, func(ctx context.Context, tx projection.Tx) error {
		return p.Handle(ctx, tx, batch[2:])
	})
	require.ErrorIs(t, err, wasm.ErrMalformedResult)
	assert.Contains(t, err.Error(), "1 documents for the 2 given")

	tr, err := wasm.NewTransformer(m)
	require.NoError(t, err)
	out, err := tr.TransformAppend(ctx, "s-1", []eventstore.EventData{event("Old"), event("Other")})
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.Equal(t, "New", out[0].Type)
	assert.JSONEq(t, `{"from":"hand 2"}`, string(out[0].Data))
	assert.Equal(t, "Other", out[1].Type)
}

func TestHandmadeTrapAndLoop(t *testing.T) {
	for _, c := range []struct {
		body []byte
		kind error
		says string
	}{
		{unreachable, wasm.ErrTrap, `emmett_evolve trapped: wasm error: unreachable`},
		{spin, wasm.ErrTimeout, `emmett_evolve timed out: no result after 200ms`},
		{constant(70000, ""), wasm.ErrMalformedResult, `emmett_evolve returned a malformed result: empty result`},
		{constant(70000, "x"), wasm.ErrMalformedResult, `result [70000, +1) is out of the module's memory of 65536 bytes`},
		{constant(40000, describeJSON), wasm.ErrMalformedResult, `no document, delete or error`},
	} {
		m, err := loadHandmade(t, handmade(c.body), wasm.WithCallTimeout(200*time.Millisecond))
		require.NoError(t, err)
		p, err := wasm.NewProjection(m, "constants")
		require.NoError(t, err)
		store := memory.New(memory.WithProjections(p))
		_, err = store.AppendToStream(context.Background(), "s-1", []eventstore.EventData{event("Tick")})
		require.ErrorIs(t, err, c.kind)
		assert.Contains(t, err.Error(), c.says)
		var perr *projection.Error
		require.ErrorAs(t, err, &perr)
		assert.Equal(t, eventstore.Position{GlobalPosition: 1}, perr.Position())
	}
}

func TestHandmadeDeleteResults(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		result  string
		deletes bool
		says    string
	}{
		{`{"document":null,"delete":true}`, true, ""},
		{`{"document":null}`, true, ""},
		{`{"delete":true}`, true, ""},
		{`{"document":null,"delete":false}`, true, ""},
		{`{"document":{"a":1},"delete":true}`, false, "both document and delete"},
		{`{"delete":false}`, false, "no document, delete or error"},
	} {
		t.Run(c.result, func(t *testing.T) {
			m, err := loadHandmade(t, handmade(constant(60000, c.result), func(m *wasmModule) { m.data[60000] = c.result }))
			require.NoError(t, err)
			p, err := wasm.NewProjection(m, "constants")
			require.NoError(t, err)
			store := memory.New(memory.WithProjections(p))
			require.NoError(t, store.Documents().Put(ctx, "constants", "s-1", []byte(`{"before":true}`)))

			_, err = store.AppendToStream(ctx, "s-1", []eventstore.EventData{event("Tick")})
			_, found, getErr := store.Documents().Get(ctx, "constants", "s-1")
			require.NoError(t, getErr)
			if c.deletes {
				require.NoError(t, err)
				assert.False(t, found, "the document is deleted")
				return
			}
			require.ErrorIs(t, err, wasm.ErrMalformedResult)
			assert.Contains(t, err.Error(), c.says)
			assert.True(t, found, "the document is kept")
		})
	}
}

func TestLoadChecksTheABI(t *testing.T) {
	ok := constant(45000, documentJSON)
	for _, c := range []struct {
		bin  []byte
		says string
	}{
		{handmade(ok, func(m *wasmModule) { m.funcs = m.funcs[1:] }), `module "handmade" does not export emmett_alloc`},
		{handmade(ok, func(m *wasmModule) { m.funcs[3].params = []byte{i32} }),
			`module "handmade" exports emmett_evolve(i32) -> (i64), the ABI wants emmett_evolve(i32, i32) -> (i64)`},
		{handmade(ok, func(m *wasmModule) { m.funcs = m.funcs[:3] }), `module "handmade" does not export emmett_evolve`},
		{handmade(ok, func(m *wasmModule) { m.funcs = append(m.funcs, wasmFunc{name: "_start"}) }),
			`module "handmade" is a WASI command (it exports _start): build it as a reactor (Go: -buildmode=c-shared)`},
		{handmade(ok, func(m *wasmModule) { m.imports = []string{"env.abort"} }),
			`module "handmade" imports env.abort: the host provides only wasi_snapshot_preview1`},
		{handmade(ok, func(m *wasmModule) {
			m.data[40000] = `{"abi":3,"projection":{}}`
			m.funcs[2].body = constant(40000, m.data[40000])
		}), `module "handmade" implements ABI version 3, the host implements versions 1 to 2`},
		{handmade(ok, func(m *wasmModule) {
			m.data[40000] = `{"abi":2,"projection":{}}`
			m.funcs[2].body = constant(40000, m.data[40000])
		}), `module "handmade" does not export emmett_evolve_batch`},
		{handmade(ok, func(m *wasmModule) {
			m.data[40000] = `{"abi":2,"transform":{}}`
			m.funcs[2].body = constant(40000, m.data[40000])
		}), `module "handmade" does not export emmett_transform_batch`},
		{handmade(ok, func(m *wasmModule) {
			m.data[40000] = `{"abi":1}`
			m.funcs[2].body = constant(40000, m.data[40000])
		}), `module "handmade" describes neither a projection nor a transform`},
		{handmade(ok, func(m *wasmModule) {
			m.data[40000] = `{"abi":1,"projection":{"documentIds":true}}`
			m.funcs[2].body = constant(40000, m.data[40000])
		}), `module "handmade" does not export emmett_document_ids`},
	} {
		_, err := loadHandmade(t, c.bin)
		require.ErrorIs(t, err, wasm.ErrABI, c.says)
		assert.EqualError(t, err, "wasm: module does not implement the Emmett ABI: "+c.says)
	}

	_, err := loadHandmade(t, handmade(ok, func(m *wasmModule) {
		m.data[40000] = `{"abi":1,`
		m.funcs[2].body = constant(40000, m.data[40000])
	}))
	require.ErrorIs(t, err, wasm.ErrMalformedResult)
	assert.Contains(t, err.Error(), `emmett_describe returned a malformed result`)

	_, err = loadHandmade(t, handmade(unreachable, func(m *wasmModule) { m.funcs[2].body = unreachable }))
	require.ErrorIs(t, err, wasm.ErrTrap)
}

func TestDescriptionIsJSON(t *testing.T) {
	d := wasm.Description{Projection: &wasm.ProjectionDescription{DocumentIDs: true}}
	out, err := json.Marshal(d)
	require.NoError(t, err)
	assert.JSONEq(t, `{"projection":{"eventTypes":null,"documentIds":true}}`, string(out))
}
