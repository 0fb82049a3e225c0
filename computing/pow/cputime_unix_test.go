//go:build unix

package pow

import "syscall"

// cpuSeconds is the process's user+system CPU time: on a shared machine
// it measures the work better than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
