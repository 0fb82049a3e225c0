package libp2p

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/p2ptest"
)

func TestRawStreams(t *testing.T) {
	st := p2ptest.Status(1)
	a, b := newHost(t, st, nil), newHost(t, st, nil)
	const proto = "/emcd/1337/echo-test/1"
	if err := b.HandleStream(proto, func(_ context.Context, from p2p.PeerID, s p2p.Stream) {
		if from != a.Self() {
			s.Reset()
			return
		}
		_, _ = io.Copy(s, s) // echo until the writer half-closes
		_ = s.Close()
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.HandleStream(proto, func(context.Context, p2p.PeerID, p2p.Stream) {}); !errors.Is(err, p2p.ErrAlreadyRegistered) {
		t.Fatalf("second handler: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.OpenStream(ctx, b.Self(), proto); !errors.Is(err, p2p.ErrNotConnected) {
		t.Fatalf("before connecting: %v", err)
	}
	if err := a.ConnectPeer(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := a.OpenStream(ctx, b.Self(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("streamed")); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "streamed" {
		t.Fatalf("%q %v", got, err)
	}
	_ = s.Close()
	if _, err := a.OpenStream(ctx, b.Self(), "/emcd/1337/nobody/1"); !errors.Is(err, p2p.ErrUnknownProtocol) {
		t.Fatalf("unknown protocol: %v, want ErrUnknownProtocol", err)
	}
}
