package procattr

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestChildOutlivesStartingThread: on Linux the parent-death signal comes
// when the thread that forked the child ends. A goroutine locked to its
// thread that asks for a child and exits ends its thread; the child must
// live on (Start forks from a thread that lives as long as the process).
// Three times: a goroutine that happens to run on the main thread does not
// end it (the runtime parks the main thread instead), the next ones run
// elsewhere.
func TestChildOutlivesStartingThread(t *testing.T) {
	const n = 3
	exited := make(chan error, n)
	for range n {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = Group()
		errc := make(chan error)
		go func() {
			runtime.LockOSThread() // not unlocked: the thread ends with this goroutine
			errc <- Start(cmd)
		}()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		go func() { exited <- cmd.Wait() }()
		defer func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}()
		// It is in a group of its own.
		if pgid, err := syscall.Getpgid(cmd.Process.Pid); err != nil || pgid != cmd.Process.Pid {
			t.Fatalf("process group %d (%v), want its own, %d", pgid, err, cmd.Process.Pid)
		}
	}
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("a child died with the thread that asked for it: %v", err)
	case <-time.After(time.Second):
	}
}
