package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadKey(t *testing.T) {
	t.Run("CreatedOnFirstUseThenKept", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data", "app.key")
		keys := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				key, err := loadKey(path)
				assert.NoError(t, err)
				keys[i] = key
			})
		}
		wg.Wait()
		for _, key := range keys[1:] {
			assert.Equal(t, keys[0], key, "one key, whoever created it")
		}
		raw, err := hex.DecodeString(string(keys[0]))
		require.NoError(t, err)
		assert.Len(t, raw, 32)
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "readable by its owner only")
		again, err := loadKey(path)
		require.NoError(t, err)
		assert.Equal(t, keys[0], again)
		left, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".key-*"))
		require.NoError(t, err)
		assert.Empty(t, left, "no temporary file left")
	})
	t.Run("AKeyOfOnesOwn", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.key")
		require.NoError(t, os.WriteFile(path, []byte("  correct horse battery staple\n"), 0o600))
		key, err := loadKey(path)
		require.NoError(t, err)
		assert.Equal(t, "correct horse battery staple", string(key))
	})
	t.Run("AShortKeyIsRefused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.key")
		require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
		_, err := loadKey(path)
		assert.ErrorContains(t, err, "holds 5 bytes")
	})
}
