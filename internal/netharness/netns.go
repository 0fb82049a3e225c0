package netharness

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` bind-mounts named namespaces.
const netnsDir = "/var/run/netns"

// inNamespace runs fn on an OS thread that has joined namespace ns (by name,
// as ip netns knows it); "" runs fn where the caller is. Sockets fn creates
// stay in ns for their whole life, whichever thread later uses them.
//
// The thread returns to its original namespace before it is unlocked; if it
// cannot, it stays locked, and Go ends it when fn's goroutine exits, so no
// other goroutine ever runs in the wrong namespace.
func inNamespace(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	target, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("netharness: open namespace %s: %w", ns, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	// A fresh goroutine: if the thread must be abandoned, only it dies.
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netharness: open own namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netharness: setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			errc <- fmt.Errorf("netharness: return from namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
