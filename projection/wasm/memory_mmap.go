//go:build linux || darwin

package wasm

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// Instances' linear memories are reserved whole, up to the memory limit,
// as address space outside the Go heap, and committed as they grow: a
// growing memory then stays where it is. wazero's own grows a Go slice,
// which copies the whole memory into a new one at each growth a slice's
// capacity does not cover (a Go guest grows its memory often while its
// heap settles), and leaves the old one to the collector.
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(newMappedMemory)

// mappedMemory is a linear memory in a reserved mapping.
type mappedMemory struct {
	all       []byte // the reservation, up to the maximum
	committed int    // the bytes of it readable and writable
}

func newMappedMemory(_, max uint64) experimental.LinearMemory {
	page := uint64(syscall.Getpagesize())
	size := (max + page - 1) / page * page
	if size == 0 || size > 1<<32 {
		return &sliceMemory{}
	}
	all, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return &sliceMemory{}
	}
	return &mappedMemory{all: all}
}

// Reallocate implements experimental.LinearMemory: it commits the pages
// up to size, in place.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.all)) {
		return nil
	}
	if n := int(size); n > m.committed {
		page := syscall.Getpagesize()
		end := min((n+page-1)/page*page, len(m.all))
		if err := syscall.Mprotect(m.all[m.committed:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.committed = end
	}
	return m.all[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.all != nil {
		_ = syscall.Munmap(m.all)
		m.all = nil
	}
}

// sliceMemory is a linear memory in a Go slice, grown as wazero grows its
// own: where a reservation is not to be had.
type sliceMemory struct{ buf []byte }

// Reallocate implements experimental.LinearMemory.
func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		m.buf = append(m.buf[:cap(m.buf)], make([]byte, int(size)-cap(m.buf))...)
	}
	m.buf = m.buf[:size]
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *sliceMemory) Free() { m.buf = nil }
