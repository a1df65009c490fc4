// Package interrupt instruments a WebAssembly module so that the host can
// bound its calls in time, cheaply.
//
// wazero stops a call whose context is done (RuntimeConfig
// WithCloseOnContextDone) by checking, at every loop header, whether it
// should: each check leaves the compiled code for the Go runtime and comes
// back, which costs about as much as a small function call. A module built
// by the Go toolchain enters a loop at every function call (its functions
// start with one), so it pays a check per call, and runs several times
// slower than without them. Without the checks nothing stops a call: native
// code cannot be preempted, and a watchdog goroutine that would set a flag
// for the module to check cannot be relied on either: while the call loops
// without leaving the compiled code, a garbage collection that stops the
// world waits for it, and every other goroutine, the watchdog's timer
// included, waits for the collection.
//
// So the module is given a budget instead: a mutable i32 global, counted
// down before every branch back to a loop (br, br_if or br_table to a loop
// label) and every tail call. When it runs out, the module calls the
// host's check function (an import the rewrite adds,
// ImportModule.ImportName, of type () -> i32): the host stops the call
// there if its time is up (by panicking, which traps the call), or returns
// a fresh budget. The count is a load, a subtraction, a store and a branch
// that is not taken, all in the compiled code:
//
//	global.get $budget
//	i32.const 1
//	i32.sub
//	global.set $budget
//	global.get $budget   ;; the value just stored, not loaded again
//	i32.eqz
//	if
//	  call $check
//	  global.set $budget
//	end
//
// Entering a loop costs nothing, only going round it: a Go function, which
// starts with a loop, pays at its jumps, not at every call. Code that runs
// without end has to branch back to a loop again and again (recursion
// without a loop ends in a stack overflow; a tail call is counted too), so
// every call reaches the host's check within Budget back branches. And
// every visit to the host is a point where the Go runtime can preempt the
// goroutine, so a collection waits at most for Budget back branches.
//
// The new import comes after the module's own imported functions, so the
// module's functions move up by one index: the rewrite renumbers every
// reference to them (calls, ref.func, exports, the start function, element
// segments, globals' initializers, the name section). It drops the DWARF
// custom sections (.debug_*), whose code offsets it would invalidate, and
// keeps the others.
package interrupt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The import the rewrite adds: the host's check, () -> i32, which returns
// the next budget or stops the call.
const (
	ImportModule = "emmett:interrupt"
	ImportName   = "check"
)

// Budget is the number of back branches between two checks: the budget
// the module starts with and the one the host's check should return. A
// visit to the host costs about as much as a hundred back branches of a Go
// guest; 16384 of them take from tens of microseconds (a tight loop) to a
// millisecond or two.
const Budget = 1 << 14

// ErrUnsupported is matched by Instrument's error when the module uses an
// instruction or encoding the rewrite does not know, or is malformed.
var ErrUnsupported = errors.New("cannot instrument the module")

// Section ids.
const (
	secCustom = 0
	secType   = 1
	secImport = 2
	secGlobal = 6
	secExport = 7
	secStart  = 8
	secElem   = 9
	secCode   = 10
)

// order is the position of each known section in a module (custom sections
// go anywhere).
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id      byte
	content []byte
}

// rewriter holds what the rewrite needs: the index of the check function
// (k: the module's functions from k on move up by one) and of the budget
// global.
type rewriter struct {
	check  uint32
	budget uint32
	header []byte // the count, inserted before each back branch
}

// fn renumbers a function index.
func (rw *rewriter) fn(i uint32) uint32 {
	if i >= rw.check {
		return i + 1
	}
	return i
}

// Instrument returns bin with the budget, its checks and the import of the
// host's check (see the package documentation). It does not validate the
// module beyond what it reads: compiling the result does.
func Instrument(bin []byte) ([]byte, error) {
	out, err := instrument(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return out, nil
}

func instrument(bin []byte) ([]byte, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly binary")
	}
	if v := binary.LittleEndian.Uint32(bin[4:8]); v != 1 {
		return nil, fmt.Errorf("binary format version %d", v)
	}
	r := &reader{b: bin, i: 8}
	var sections []section
	for !r.done() {
		id := r.byte()
		size := r.u32()
		content := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		sections = append(sections, section{id, content})
	}

	var types, importedFuncs, importedGlobals, definedGlobals uint32
	for _, s := range sections {
		sr := &reader{b: s.content}
		switch s.id {
		case secType:
			types = sr.u32()
		case secImport:
			importedFuncs, importedGlobals = countImports(sr)
		case secGlobal:
			definedGlobals = sr.u32()
		}
		if sr.err != nil {
			return nil, fmt.Errorf("section %d: %v", s.id, sr.err)
		}
	}
	rw := &rewriter{check: importedFuncs, budget: importedGlobals + definedGlobals}
	rw.header = loopHeader(rw.budget, rw.check)

	checkType := []byte{0x60, 0x00, 0x01, 0x7f} // () -> i32
	imp := appendName(nil, ImportModule)
	imp = appendName(imp, ImportName)
	imp = append(imp, 0x00) // a function
	imp = binary.AppendUvarint(imp, uint64(types))
	global := []byte{0x7f, 0x01, 0x41} // mut i32, i32.const Budget end
	global = binary.AppendVarint(global, Budget)
	global = append(global, 0x0b)

	var out []section
	have := map[byte]bool{}
	for _, s := range sections {
		var err error
		have[s.id] = true
		switch s.id {
		case secCustom:
			name := customName(s.content)
			switch {
			case strings.HasPrefix(name, ".debug"):
				continue
			case name == "name":
				if s.content, err = rw.names(s.content); err != nil {
					// The names only serve stack traces: drop them
					// rather than keep them wrong.
					continue
				}
			}
		case secType:
			s.content = appendEntries(s.content, 1, checkType)
		case secImport:
			if err = refuseOurImport(s.content); err == nil {
				s.content = appendEntries(s.content, 1, imp)
			}
		case secGlobal:
			if s.content, err = rw.globals(s.content); err == nil {
				s.content = appendEntries(s.content, 1, global)
			}
		case secExport:
			s.content, err = rw.exports(s.content)
		case secStart:
			sr := &reader{b: s.content}
			f := sr.u32()
			s.content, err = binary.AppendUvarint(nil, uint64(rw.fn(f))), sr.err
		case secElem:
			s.content, err = rw.elements(s.content)
		case secCode:
			s.content, err = rw.code(s.content)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %v", s.id, err)
		}
		out = append(out, s)
	}
	if !have[secType] {
		out = insert(out, section{secType, append([]byte{1}, checkType...)})
	}
	if !have[secImport] {
		out = insert(out, section{secImport, append([]byte{1}, imp...)})
	}
	if !have[secGlobal] {
		out = insert(out, section{secGlobal, append([]byte{1}, global...)})
	}

	res := make([]byte, 0, len(bin)+len(bin)/8+64)
	res = append(res, bin[:8]...)
	for _, s := range out {
		res = append(res, s.id)
		res = binary.AppendUvarint(res, uint64(len(s.content)))
		res = append(res, s.content...)
	}
	return res, nil
}

// loopHeader is the code of the count, inserted before each back branch.
func loopHeader(budget, check uint32) []byte {
	get := binary.AppendUvarint([]byte{0x23}, uint64(budget)) // global.get
	set := binary.AppendUvarint([]byte{0x24}, uint64(budget)) // global.set
	out := append([]byte{}, get...)
	out = append(out, 0x41, 0x01, 0x6b) // i32.const 1, i32.sub
	out = append(out, set...)
	out = append(out, get...)
	out = append(out, 0x45, 0x04, 0x40) // i32.eqz, if (empty)
	out = append(out, 0x10)             // call
	out = binary.AppendUvarint(out, uint64(check))
	out = append(out, set...)
	return append(out, 0x0b) // end
}

// insert puts a section where its id goes among the known sections.
func insert(sections []section, s section) []section {
	at := len(sections)
	for i, t := range sections {
		if t.id != secCustom && order[t.id] > order[s.id] {
			at = i
			break
		}
	}
	out := append([]section{}, sections[:at]...)
	out = append(out, s)
	return append(out, sections[at:]...)
}

func appendName(out []byte, name string) []byte {
	out = binary.AppendUvarint(out, uint64(len(name)))
	return append(out, name...)
}

// appendEntries adds n entries to the vector that is a section's content.
func appendEntries(content []byte, n uint64, entries []byte) []byte {
	r := &reader{b: content}
	count := r.u32()
	out := binary.AppendUvarint(nil, uint64(count)+n)
	out = append(out, content[r.i:]...)
	return append(out, entries...)
}

func customName(content []byte) string {
	r := &reader{b: content}
	return r.name()
}

// countImports counts the imported functions and globals.
func countImports(r *reader) (funcs, globals uint32) {
	n := r.u32()
	for range n {
		if r.err != nil {
			return 0, 0
		}
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			r.u32()
			funcs++
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
		case 0x03: // global: valtype, mutability
			r.valtype()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail(fmt.Sprintf("import kind 0x%02x", kind))
		}
	}
	return funcs, globals
}

func refuseOurImport(content []byte) error {
	r := &reader{b: content}
	n := r.u32()
	for range n {
		mod := r.name()
		r.name()
		if mod == ImportModule {
			return fmt.Errorf("the module imports from %q, a module name the host reserves", ImportModule)
		}
		switch kind := r.byte(); kind {
		case 0x00:
			r.u32()
		case 0x01:
			r.byte()
			r.limits()
		case 0x02:
			r.limits()
		case 0x03:
			r.valtype()
			r.byte()
		case 0x04:
			r.byte()
			r.u32()
		default:
			r.fail(fmt.Sprintf("import kind 0x%02x", kind))
		}
		if r.err != nil {
			return r.err
		}
	}
	return r.err
}

// exports renumbers the function exports.
func (rw *rewriter) exports(content []byte) ([]byte, error) {
	r := &reader{b: content}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(content)+8), uint64(n))
	for range n {
		start := r.i
		r.name()
		kind := r.byte()
		out = append(out, content[start:r.i]...)
		idx := r.u32()
		if kind == 0x00 {
			idx = rw.fn(idx)
		}
		out = binary.AppendUvarint(out, uint64(idx))
		if r.err != nil {
			return nil, r.err
		}
	}
	return out, r.end()
}

// globals renumbers the ref.func of the globals' initializers.
func (rw *rewriter) globals(content []byte) ([]byte, error) {
	r := &reader{b: content}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(content)+8), uint64(n))
	for range n {
		start := r.i
		r.valtype()
		r.byte()
		out = append(out, content[start:r.i]...)
		var err error
		if out, err = rw.expr(out, r); err != nil {
			return nil, err
		}
	}
	return out, r.end()
}

// expr copies a constant expression, up to its end, renumbering ref.func.
func (rw *rewriter) expr(out []byte, r *reader) ([]byte, error) {
	last := r.i
	for r.err == nil {
		op := r.byte()
		switch op {
		case 0x0b: // end
			return append(out, r.b[last:r.i]...), r.err
		case 0xd2: // ref.func
			out = append(out, r.b[last:r.i]...)
			out = binary.AppendUvarint(out, uint64(rw.fn(r.u32())))
			last = r.i
		default:
			r.immediates(op)
		}
	}
	return nil, r.err
}

// elements renumbers the functions of the element segments.
func (rw *rewriter) elements(content []byte) ([]byte, error) {
	r := &reader{b: content}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(content)+8), uint64(n))
	for range n {
		flags := r.u32()
		out = binary.AppendUvarint(out, uint64(flags))
		if flags > 7 {
			return nil, fmt.Errorf("element segment flags %d", flags)
		}
		active, explicitTable, exprs := flags&1 == 0, flags&2 != 0, flags&4 != 0
		if active && explicitTable {
			out = binary.AppendUvarint(out, uint64(r.u32())) // table
		}
		if active {
			var err error
			if out, err = rw.expr(out, r); err != nil { // offset
				return nil, err
			}
		}
		if !active || explicitTable {
			out = append(out, r.byte()) // elemkind or reftype
		}
		count := r.u32()
		out = binary.AppendUvarint(out, uint64(count))
		for range count {
			if exprs {
				var err error
				if out, err = rw.expr(out, r); err != nil {
					return nil, err
				}
			} else {
				out = binary.AppendUvarint(out, uint64(rw.fn(r.u32())))
			}
			if r.err != nil {
				return nil, r.err
			}
		}
	}
	return out, r.end()
}

// names renumbers the function indexes of the name section: function names
// (1), local names (2) and labels (3), keyed by function.
func (rw *rewriter) names(content []byte) ([]byte, error) {
	r := &reader{b: content}
	r.name() // "name"
	out := append([]byte{}, content[:r.i]...)
	for !r.done() {
		id := r.byte()
		size := r.u32()
		sub := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		if id >= 1 && id <= 3 {
			sr := &reader{b: sub}
			n := sr.u32()
			var body []byte
			body = binary.AppendUvarint(body, uint64(n))
			for range n {
				body = binary.AppendUvarint(body, uint64(rw.fn(sr.u32())))
				start := sr.i
				if id == 1 {
					sr.name()
				} else { // a map of names per function (locals, labels)
					for range sr.u32() {
						sr.u32()
						sr.name()
					}
				}
				body = append(body, sub[start:sr.i]...)
				if sr.err != nil {
					return nil, sr.err
				}
			}
			if err := sr.end(); err != nil {
				return nil, err
			}
			sub = body
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(sub)))
		out = append(out, sub...)
	}
	return out, r.err
}

// code rewrites the code section: each function body with the count
// before its back branches, and its calls and ref.func renumbered.
func (rw *rewriter) code(content []byte) ([]byte, error) {
	r := &reader{b: content}
	n := r.u32()
	out := make([]byte, 0, len(content)+len(content)/8)
	out = binary.AppendUvarint(out, uint64(n))
	var body []byte
	for f := range n {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("code of function %d: %v", f, r.err)
		}
		var err error
		if body, err = rw.body(body[:0], code); err != nil {
			return nil, fmt.Errorf("code of function %d: %v", f, err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	return out, r.end()
}

func (rw *rewriter) body(out, code []byte) ([]byte, error) {
	r := &reader{b: code}
	locals := r.u32()
	for range locals {
		r.u32()
		r.valtype()
	}
	if r.err != nil {
		return nil, r.err
	}
	// The kinds of the enclosing blocks (the function's own first), to
	// know which branches go back to a loop.
	const block, loop = 0, 1
	kinds := []byte{block}
	target := func(depth uint32) byte {
		if int(depth) >= len(kinds) {
			r.fail("a branch out of the function")
			return block
		}
		return kinds[len(kinds)-1-int(depth)]
	}
	last := 0 // code[last:r.i] is still to copy
	for !r.done() {
		at := r.i
		switch op := r.byte(); op {
		case 0x02, 0x04: // block, if
			r.blockType()
			kinds = append(kinds, block)
		case 0x03: // loop
			r.blockType()
			kinds = append(kinds, loop)
		case 0x0b: // end
			if len(kinds) == 0 {
				r.fail("an end too many")
				break
			}
			kinds = kinds[:len(kinds)-1]
		case 0x0c, 0x0d: // br, br_if: checked before, when to a loop
			if target(r.u32()) == loop {
				out = append(out, code[last:at]...)
				out = append(out, rw.header...)
				last = at
			}
		case 0x0e: // br_table: checked before, when any target is a loop
			n := r.u32()
			back := false
			for range n + 1 {
				if r.err != nil {
					break
				}
				back = target(r.u32()) == loop || back
			}
			if back {
				out = append(out, code[last:at]...)
				out = append(out, rw.header...)
				last = at
			}
		case 0x12: // return_call: a loop without a loop; checked before
			out = append(out, code[last:at]...)
			out = append(out, rw.header...)
			out = append(out, 0x12)
			out = binary.AppendUvarint(out, uint64(rw.fn(r.u32())))
			last = r.i
		case 0x13: // return_call_indirect: checked before
			out = append(out, code[last:at]...)
			out = append(out, rw.header...)
			last = at
			r.u32()
			r.u32()
		case 0x10, 0xd2: // call, ref.func
			out = append(out, code[last:r.i]...)
			out = binary.AppendUvarint(out, uint64(rw.fn(r.u32())))
			last = r.i
		default:
			r.immediates(op)
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if len(kinds) != 0 {
		return nil, errors.New("a block without its end")
	}
	return append(out, code[last:]...), nil
}

// reader reads the binary format; its first error sticks, and later reads
// return zeros.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) done() bool { return r.err != nil || r.i >= len(r.b) }

func (r *reader) end() error {
	if r.err == nil && r.i != len(r.b) {
		r.fail("bytes past the end")
	}
	return r.err
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at offset %d", what, r.i)
		r.i = len(r.b)
	}
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.i {
		r.fail("length past the end")
		return nil
	}
	out := r.b[r.i : r.i+n]
	r.i += n
	return out
}

// leb reads an LEB128 number of at most maxBytes bytes, and returns it
// unsigned (the caller sign-extends if it wants).
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for k := 0; k < maxBytes; k++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * k)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 { return uint32(r.leb(5)) }
func (r *reader) u64()        { r.leb(10) }

func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(int(n)))
}

func (r *reader) limits() {
	flags := r.byte()
	wide := flags&0x04 != 0 // memory64
	read := func() {
		if wide {
			r.u64()
		} else {
			r.u32()
		}
	}
	read()
	if flags&0x01 != 0 {
		read()
	}
}

func (r *reader) valtype() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		r.fail(fmt.Sprintf("value type 0x%02x", t))
	}
}

// blockType reads a block type: empty (0x40), a value type, or a type
// index, all three one signed LEB128 number (s33).
func (r *reader) blockType() { r.leb(5) }

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multiple memories: a memory index follows
		r.u32()
	}
	r.u64()
}

// immediates skips the immediates of the instruction op.
func (r *reader) immediates(op byte) {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		r.blockType()
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b:
		// unreachable, nop, else, end, return, drop, select
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		for range n {
			if r.err != nil {
				return
			}
			r.u32()
		}
		r.u32()
	case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		n := r.u32()
		for range n {
			r.valtype()
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41: // i32.const
		r.leb(5)
	case op == 0x42: // i64.const
		r.leb(10)
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric, sign extension
	case op == 0xd0: // ref.null
		r.byte()
	case op == 0xd1: // ref.is_null
	case op == 0xfc:
		r.prefixFC()
	case op == 0xfd:
		r.prefixFD()
	case op == 0xfe:
		r.prefixFE()
	default:
		r.i--
		r.fail(fmt.Sprintf("instruction 0x%02x", op))
	}
}

func (r *reader) prefixFC() {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data memory
		r.u32()
		r.u32()
	case sub == 9: // data.drop
		r.u32()
	case sub == 10: // memory.copy
		r.u32()
		r.u32()
	case sub == 11: // memory.fill
		r.u32()
	case sub == 12: // table.init elem table
		r.u32()
		r.u32()
	case sub == 13: // elem.drop
		r.u32()
	case sub == 14: // table.copy
		r.u32()
		r.u32()
	case sub >= 15 && sub <= 17: // table.grow, table.size, table.fill
		r.u32()
	default:
		r.fail(fmt.Sprintf("instruction 0xfc %d", sub))
	}
}

func (r *reader) prefixFD() {
	switch sub := r.u32(); {
	case sub <= 11: // v128 loads, v128.store
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		r.memarg()
		r.byte()
	case sub == 92 || sub == 93: // v128.load32_zero, v128.load64_zero
		r.memarg()
	case sub <= 0x113: // everything else, relaxed SIMD included: no immediates
	default:
		r.fail(fmt.Sprintf("instruction 0xfd %d", sub))
	}
}

func (r *reader) prefixFE() {
	switch sub := r.u32(); {
	case sub == 3: // atomic.fence
		r.byte()
	case sub <= 0x4e:
		r.memarg()
	default:
		r.fail(fmt.Sprintf("instruction 0xfe %d", sub))
	}
}
