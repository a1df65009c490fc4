//go:build !unix

package wasmtest

// processAlive cannot tell here: directories are left alone.
func processAlive(int) bool { return true }
