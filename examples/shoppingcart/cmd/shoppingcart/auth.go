package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// minKeyBytes is the shortest key loadKey takes.
const minKeyBytes = 16

// loadKey returns the key that signs the app's tokens: the content of the
// file at path, less surrounding white space. A missing file is created
// with a new random key (32 bytes, in hex), readable by its owner only, so
// that tokens stay valid across restarts; a key shorter than minKeyBytes
// is refused.
func loadKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("the key file: %w", err)
	}
	key := bytes.TrimSpace(data)
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("the key file %s holds %d bytes: a key needs %d at least", path, len(key), minKeyBytes)
	}
	return key, nil
}

func createKey(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("the key file: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // never fails
	key := []byte(hex.EncodeToString(raw))
	// Written aside, then linked into place: a process reading the file
	// finds a whole key or none, and of two processes creating it at
	// once, one links its key and the other reads that one.
	tmp, err := os.CreateTemp(dir, ".key-*") // 0600
	if err != nil {
		return nil, fmt.Errorf("the key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(key, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return loadKey(path)
	case err != nil:
		return nil, fmt.Errorf("the key file: %w", err)
	}
	return key, nil
}
