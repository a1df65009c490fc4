//go:build linux || darwin

package wasm

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A memory grows where it is, keeping its contents, up to its maximum.
func TestMappedMemoryGrowsInPlace(t *testing.T) {
	m := newMappedMemory(0, 4*pageSize)
	defer m.Free()
	require.IsType(t, &mappedMemory{}, m)

	a := m.Reallocate(pageSize)
	require.Len(t, a, pageSize)
	a[0], a[pageSize-1] = 1, 2
	b := m.Reallocate(3 * pageSize)
	require.Len(t, b, 3*pageSize)
	assert.Equal(t, unsafe.SliceData(a), unsafe.SliceData(b), "in place")
	assert.Equal(t, []byte{1, 2}, []byte{b[0], b[pageSize-1]})
	b[3*pageSize-1] = 3
	assert.Equal(t, 2*pageSize, len(m.Reallocate(2*pageSize)), "a smaller size is allowed")
	assert.Nil(t, m.Reallocate(5*pageSize), "past the maximum")
	assert.Len(t, m.Reallocate(4*pageSize), 4*pageSize)
}
