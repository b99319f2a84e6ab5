//go:build linux

// Package cputime reads the CPU time a thread or the whole process has
// used, for benchmarks on shared machines, where CPU time varies less
// than wall time.
package cputime

import "syscall"

// Thread returns the user and system CPU time the calling OS thread has
// used, in nanoseconds, or 0 when it cannot be read.
func Thread() int64 { return usage(syscall.RUSAGE_THREAD) }

// Process returns the user and system CPU time of every thread of the
// process, in nanoseconds, or 0 when it cannot be read.
func Process() int64 { return usage(syscall.RUSAGE_SELF) }

func usage(who int) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
