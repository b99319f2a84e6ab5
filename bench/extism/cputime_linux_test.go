//go:build linux

package extism_test

import "syscall"

// threadCPU returns the user and system CPU time the calling OS thread has
// used, in nanoseconds, or 0 when it cannot be read.
func threadCPU() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &usage); err != nil {
		return 0
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}
