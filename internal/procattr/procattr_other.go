//go:build !linux

package procattr

import "syscall"

// Only Linux has a parent-death signal; elsewhere a child outlives a node
// that dies without stopping it.
const parentDeathSignal = false

func setParentDeathSignal(*syscall.SysProcAttr) {}
