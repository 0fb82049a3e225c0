package operator

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/test/bufconn"
)

// TestLimitListener: a full listener's Accept waits for a slot, a closed
// connection frees its slot once, and Close ends a waiting Accept.
func TestLimitListener(t *testing.T) {
	inner := bufconn.Listen(1 << 10)
	l := newLimitListener(inner, 1)
	dial := func() {
		go func() {
			c, err := inner.DialContext(context.Background())
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
		}()
	}
	accept := func() <-chan error {
		errc := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				err = c.Close()
				c.Close() // a second Close must not free a second slot
			}
			errc <- err
		}()
		return errc
	}
	wait := func(errc <-chan error) error {
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Accept did not return")
			return nil
		}
	}

	dial()
	if err := wait(accept()); err != nil {
		t.Fatal(err)
	}
	// The slot was freed by Close (once): the next connection is accepted.
	dial()
	if err := wait(accept()); err != nil {
		t.Fatal(err)
	}
	// Hold the only slot, then Close ends an Accept waiting for one.
	dial()
	held, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waiting := accept()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(waiting); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
