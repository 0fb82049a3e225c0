package instance

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// dialInNetns dials addr (an IP literal) from inside the network namespace
// ns: the socket is made while this goroutine's thread has joined ns, so
// it belongs to ns for its whole life; the thread then returns to its own
// namespace. This is how the node reaches the port of an app container
// that has no network of its own (--network none: only its loopback). It
// needs CAP_SYS_ADMIN.
func dialInNetns(ctx context.Context, ns *os.File, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("instance: own network namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("instance: join the app's network namespace (needs CAP_SYS_ADMIN): %w", err)
	}
	conn, derr := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so it ends with this goroutine and
		// never runs anything else in the app's namespace.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("instance: return from the app's network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, derr
}

// checkNetns reports whether this process can join other network
// namespaces.
func checkNetns() error {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	defer f.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("instance: the docker runner needs CAP_SYS_ADMIN to reach app ports: %w", err)
	}
	return nil
}
