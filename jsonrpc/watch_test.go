package jsonrpc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// watch guards the EVM and tracer of one request: its callback may touch
// them from the watchdog goroutine only until stop returns.
func TestWatchStopWaitsForTheCallback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	entered, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	stop := watch(ctx, func() {
		calls.Add(1)
		close(entered)
		<-release
	})
	cancel()
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("callback did not run after ctx ended")
	}
	go func() { stop(); close(returned) }()
	// A stop that did not wait would return now. Waiting longer only
	// makes the check stronger; it never makes a correct watch fail.
	select {
	case <-returned:
		t.Fatal("stop returned while the callback was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-returned:
	case <-time.After(time.Minute):
		t.Fatal("stop did not return after the callback")
	}
	stop() // idempotent
	if n := calls.Load(); n != 1 {
		t.Fatalf("callback ran %d times", n)
	}
}

func TestWatchStoppedBeforeCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	stop := watch(ctx, func() { calls.Add(1) })
	stop()
	cancel()
	if n := calls.Load(); n != 0 {
		t.Fatalf("callback ran %d times after stop", n)
	}
}
