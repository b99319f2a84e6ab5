//go:build linux

package runtime

import "syscall"

// threadCPU returns the CPU time the calling OS thread has used, in
// nanoseconds, or 0 when it cannot be read.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
