package netharness

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer accepts on 127.0.0.1 and echoes every connection until the
// test ends.
func echoServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln
}

func TestRelayForwardsAndDelays(t *testing.T) {
	echo := echoServer(t)
	r, err := NewRelay(RelayConfig{Listen: "127.0.0.1:0", Target: echo.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))

	// 1 MiB of random bytes come back intact and in order.
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	go func() { _, _ = c.Write(payload) }()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("relayed bytes differ")
	}

	// With a one-way delay d, a round trip through relay and echo takes at
	// least 2d (the relay delays both directions). Only the lower bound is
	// checked: a loaded machine may add any amount.
	const d = 60 * time.Millisecond
	r.SetDelay(d)
	if r.Delay() != d {
		t.Fatalf("Delay() = %s", r.Delay())
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if rtt := time.Since(start); rtt < 2*d {
			t.Fatalf("round trip %s with one-way delay %s", rtt, d)
		}
	}

	// Close ends relayed connections: the client sees EOF or a reset.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after relay Close succeeded")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("relay Close left the connection open")
	}
}

func TestRelayTargetDown(t *testing.T) {
	// A target that refuses: the relay closes the accepted connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	r, err := NewRelay(RelayConfig{Listen: "127.0.0.1:0", Target: dead})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read through a relay to a dead target succeeded")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("relay kept a connection to a dead target open")
	}
}

func TestRelayBadListen(t *testing.T) {
	if _, err := NewRelay(RelayConfig{Listen: "not an address", Target: "127.0.0.1:1"}); err == nil {
		t.Fatal("NewRelay accepted a bad listen address")
	}
	if _, err := NewRelay(RelayConfig{NS: "enh-no-such-namespace", Listen: "127.0.0.1:0", Target: "127.0.0.1:1"}); err == nil {
		t.Fatal("NewRelay accepted a namespace that does not exist")
	}
}
