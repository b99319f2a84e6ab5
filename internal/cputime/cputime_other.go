//go:build !linux

// Package cputime reads the CPU time a thread or the whole process has
// used, for benchmarks on shared machines, where CPU time varies less
// than wall time.
package cputime

// Thread returns 0: CPU time is read on Linux only.
func Thread() int64 { return 0 }

// Process returns 0: CPU time is read on Linux only.
func Process() int64 { return 0 }
