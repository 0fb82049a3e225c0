package libp2p

// Real-host tests: every host binds 127.0.0.1 on a random port. The shared
// behaviour is the p2ptest conformance suite (also run over memnet); this
// file adds what only the real transport has: key files, bootnodes and DHT
// discovery, QUIC.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/p2ptest"
)

func newHost(t *testing.T, st p2p.Status, mut func(*Config)) *Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ChainID:          st.ChainID,
		Status:           func() p2p.Status { return st },
		Key:              key,
		ListenAddrs:      []string{"/ip4/127.0.0.1/tcp/0"},
		DisableDHT:       true,
		HandshakeTimeout: 3 * time.Second,
	}
	if mut != nil {
		mut(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestConformance(t *testing.T) {
	p2ptest.Run(t, p2ptest.Harness{
		NewNode: func(t *testing.T, st p2p.Status, signer p2p.Signer) p2p.Network {
			return newHost(t, st, func(c *Config) { c.Signer = signer })
		},
		Connect: func(t *testing.T, a, b p2p.Network) error {
			hb := b.(*Host)
			return a.(*Host).ConnectPeer(context.Background(), peer.AddrInfo{ID: hb.ID(), Addrs: hb.host.Addrs()})
		},
		Wait: 15 * time.Second,
	})
}

func TestNodeKeyPersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodekey")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !k1.Equals(k2) {
		t.Fatalf("reloaded key differs: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); !errors.Is(err, ErrBadNodeKey) {
		t.Fatalf("corrupt key: %v, want ErrBadNodeKey", err)
	}
}

func TestBootnodesDHTAndQUIC(t *testing.T) {
	st := p2ptest.Status(1)
	withDHT := func(c *Config) {
		c.DisableDHT = false
		c.DiscoveryInterval = 300 * time.Millisecond
		c.QUIC = true
		c.LowPeers = 4
	}
	boot := newHost(t, st, withDHT)
	addrs := boot.Addrs()
	var quicAddr string
	for _, a := range addrs {
		if strings.Contains(a, "/quic-v1/p2p/") {
			quicAddr = a
		}
	}
	if quicAddr == "" {
		t.Fatalf("no QUIC address in %v", addrs)
	}
	a := newHost(t, st, func(c *Config) { withDHT(c); c.Bootnodes = []string{quicAddr} })
	c := newHost(t, st, func(c *Config) { withDHT(c); c.Bootnodes = addrs })
	p2ptest.Eventually(t, 20*time.Second, "a and c find each other through the bootnode's DHT", func() bool {
		return slices.Contains(a.Peers(), c.Self()) && slices.Contains(c.Peers(), a.Self())
	})
	if st, ok := a.PeerStatus(boot.Self()); !ok || st.Genesis != p2ptest.Status(1).Genesis {
		t.Fatalf("handshake status of bootnode: %+v %v", st, ok)
	}
}
