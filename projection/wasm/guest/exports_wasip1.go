//go:build wasip1

package guest

import (
	"errors"
	"unsafe"
)

// The exports of the ABI. Memory protocol: the host asks emmett_alloc for
// a buffer, writes its input there and passes (pointer, length); a
// function returns its result as pointer<<32 | length, pointing at a
// buffer the guest keeps alive until the next call.

// buffers holds the buffers handed out to the host, so that the garbage
// collector keeps them until emmett_free.
var buffers = map[uint32][]byte{}

var errBadInput = errors.New("input is not a buffer from emmett_alloc")

// result is the last result returned, kept alive for the host to read.
var result []byte

//go:wasmexport emmett_alloc
func emmettAlloc(size uint32) uint32 {
	buf := make([]byte, max(size, 1))
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	buffers[ptr] = buf
	return ptr
}

//go:wasmexport emmett_free
func emmettFree(ptr, _ uint32) { delete(buffers, ptr) }

//go:wasmexport emmett_describe
func emmettDescribe() uint64 { return ret(registered.describe()) }

//go:wasmexport emmett_evolve_batch
func emmettEvolveBatch(ptr, size uint32) uint64 {
	return call(ptr, size, registered.evolveBatch)
}

//go:wasmexport emmett_document_ids_batch
func emmettDocumentIDsBatch(ptr, size uint32) uint64 {
	return call(ptr, size, registered.documentIDsBatch)
}

//go:wasmexport emmett_transform_batch
func emmettTransformBatch(ptr, size uint32) uint64 {
	return call(ptr, size, registered.transformBatch)
}

func call(ptr, size uint32, fn func([]byte) []byte) uint64 {
	buf, ok := buffers[ptr]
	if !ok || uint32(len(buf)) < size {
		return ret(errorResult(errBadInput, -1, -1))
	}
	return ret(fn(buf[:size]))
}

func ret(out []byte) uint64 {
	result = out
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}
