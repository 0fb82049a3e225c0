//go:build !linux

package procattr

import "syscall"

// setParentDeathSignal: only Linux has a parent-death signal; elsewhere a
// child outlives a node that dies without stopping it.
func setParentDeathSignal(*syscall.SysProcAttr) {}
