//go:build race

package fuzz

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = true
