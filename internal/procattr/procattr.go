// Package procattr starts emcd's children (jobs and apps of the process
// executors) so that they are stopped as a whole and do not outlive the
// node.
package procattr

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Group returns attributes that start a child in its own process group,
// so killing the group reaches everything it forked, and, where the
// platform has it (Linux), have the kernel SIGKILL the child when its
// parent dies first: a node killed by SIGKILL cannot stop its children.
// Start the command with Start, not cmd.Start.
func Group() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(a)
	return a
}

// Start starts cmd. Linux sends the parent-death signal when the thread
// that started the child exits, not only the process, and the Go runtime
// ends a thread whose goroutine exits while locked to it (as a failed
// return from another network namespace does). So children are started
// from one goroutine locked to its thread for the life of the process:
// that thread ends only with the process.
func Start(cmd *exec.Cmd) error {
	if !parentDeathSignal {
		return cmd.Start()
	}
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}
