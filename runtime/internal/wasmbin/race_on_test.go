//go:build race

package wasmbin

// raceEnabled is true under the race detector, which makes compiling the
// Go example modules take minutes.
const raceEnabled = true
