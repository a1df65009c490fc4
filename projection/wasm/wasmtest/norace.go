//go:build !race

package wasmtest

// raceEnabled reports whether the test binary is built with -race.
const raceEnabled = false
