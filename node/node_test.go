package node

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// Background components report fatal errors on Err; nobody may block on
// that channel, even when every component fails and nobody reads it.
func TestFailNeverBlocks(t *testing.T) {
	n := &Node{log: slog.New(slog.DiscardHandler), errCh: make(chan error, 2)}
	first := errors.New("first")
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.fail("test", first)
		for i := 0; i < 10; i++ {
			n.fail("test", fmt.Errorf("later %d", i))
		}
		n.spawn(func() error { return errors.New("spawned") })
		n.goServe("test", func() error { return errors.New("serve") })
		n.wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reporting an error blocked with nobody reading Err")
	}
	if err := <-n.Err(); !errors.Is(err, first) {
		t.Fatalf("first error on Err = %v, want %v", err, first)
	}
}
