//go:build !(linux || darwin)

package wasm

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is nil where the host does not reserve memories: wazero
// grows them.
var memoryAllocator experimental.MemoryAllocator
