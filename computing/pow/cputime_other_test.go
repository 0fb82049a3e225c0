//go:build !unix

package pow

func cpuSeconds() float64 { return 0 }
