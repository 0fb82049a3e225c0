package node

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/emc-network/emcd/p2p"
)

// The dev node's loopback streams behave as the app protocol needs: the
// handler hears the router's peer, a half-close reads as EOF while the
// other direction still works, a Reset reads as an error (not EOF), and
// unknown peers and protocols are refused.
func TestDevStreams(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDevStreams(ctx, "node", "router")
	got := make(chan error, 1)
	if err := d.HandleStream("/p/1", func(_ context.Context, from p2p.PeerID, s p2p.Stream) {
		if from != "router" {
			got <- errors.New("from " + string(from))
			s.Reset()
			return
		}
		b, err := io.ReadAll(s) // until the half-close
		if err != nil || string(b) != "ping" {
			got <- errors.New("read " + string(b))
			s.Reset()
			return
		}
		if _, err := s.Write([]byte("pong")); err != nil {
			got <- err
		}
		got <- s.Reset() // then abort: the opener's next read fails
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.HandleStream("/p/1", nil); !errors.Is(err, p2p.ErrAlreadyRegistered) {
		t.Fatalf("second handler: %v", err)
	}
	if _, err := d.OpenStream(ctx, "other", "/p/1"); !errors.Is(err, p2p.ErrNotConnected) {
		t.Fatalf("unknown peer: %v", err)
	}
	if _, err := d.OpenStream(ctx, "node", "/p/2"); !errors.Is(err, p2p.ErrUnknownProtocol) {
		t.Fatalf("unknown protocol: %v", err)
	}
	s, err := d.OpenStream(ctx, "node", "/p/1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "pong" {
		t.Fatalf("answer %q: %v", b, err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(b); err == nil || err == io.EOF {
		t.Fatalf("read after the remote's reset: %v, want an error that is not EOF", err)
	}
}
