// Package procattr gives the process attributes emcd starts its children
// with (jobs and apps of the process executors).
package procattr

import "syscall"

// Group returns attributes that start a child in its own process group,
// so killing the group reaches everything it forked, and, where the
// platform has it (Linux), have the kernel SIGKILL the child when its
// parent dies first: a node killed by SIGKILL cannot stop its children.
//
// Linux sends that signal when the thread that started the child exits,
// not only the process. The Go runtime keeps its threads, except one whose
// goroutine exits while locked to it (runtime.LockOSThread), which emcd
// does not do on the goroutines that start children.
func Group() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(a)
	return a
}
