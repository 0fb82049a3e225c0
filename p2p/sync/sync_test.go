package sync

// Sync tests run the Server and Syncer between real state.Chains (dev
// genesis, one validator) over memnet and over real libp2p hosts on
// 127.0.0.1: a fresh chain catches up, and a peer serving a forged block is
// penalised while the syncer completes from an honest peer.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/p2p/memnet"
	"github.com/emc-network/emcd/p2p/p2ptest"
	"github.com/emc-network/emcd/state"
)

type emptySource struct{}

func (emptySource) Peek() *types.Transaction { return nil }
func (emptySource) Shift()                   {}
func (emptySource) Pop()                     {}

func newChain(t *testing.T) *state.Chain {
	t.Helper()
	c, err := state.Open(state.OpenMemoryStore(), genesis.Dev(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seal(t *testing.T, key *ecdsa.PrivateKey, hash common.Hash) *cert.Certificate {
	s, err := cert.SignCommit(hash, 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, key) })
	if err != nil {
		t.Fatal(err)
	}
	return &cert.Certificate{Seals: [][]byte{s}}
}

// buildChain returns a chain with n certified blocks.
func buildChain(t *testing.T, n int) *state.Chain {
	t.Helper()
	c := newChain(t)
	key := genesis.DevSignerKey()
	for i := 0; i < n; i++ {
		var parent *cert.Certificate
		if h := c.Head(); h.Number.Sign() > 0 {
			pc, err := c.Certificate(h.Number.Uint64(), h.Hash())
			if err != nil || pc == nil {
				t.Fatalf("head certificate: %v", err)
			}
			parent = pc
		}
		b, err := c.BuildBlock(context.Background(), emptySource{}, state.BuildParams{
			Coinbase: crypto.PubkeyToAddress(key.PublicKey), Time: time.Now(), ParentCommit: parent,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.InsertBlock(context.Background(), b, seal(t, key, b.Hash())); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func chainStatus(c *state.Chain) p2p.StatusFunc {
	return func() p2p.Status {
		h := c.Head()
		return p2p.Status{ChainID: c.Config().ChainID.Uint64(), Genesis: c.GenesisBlock().Hash(), HeadNumber: h.Number.Uint64(), HeadHash: h.Hash()}
	}
}

// forger serves the honest chain but forges certificates from block bad on,
// and claims a higher head so the syncer tries it first.
type forger struct {
	*state.Chain
	bad   uint64
	extra uint64
	key   *ecdsa.PrivateKey
	t     *testing.T
}

func (f *forger) Head() *types.Header {
	h := types.CopyHeader(f.Chain.Head())
	h.Number.SetUint64(h.Number.Uint64() + f.extra)
	return h
}

func (f *forger) BlockByNumber(n uint64) *types.Block {
	if n > f.Chain.Head().Number.Uint64() {
		return nil
	}
	return f.Chain.BlockByNumber(n)
}

func (f *forger) Certificate(n uint64, h common.Hash) (*cert.Certificate, error) {
	if n >= f.bad {
		return seal(f.t, f.key, h), nil
	}
	return f.Chain.Certificate(n, h)
}

func newSyncer(t *testing.T, net Network, c *state.Chain) *Syncer {
	s, err := New(Config{
		Network: net, Chain: c, Spec: Spec(c.Config().ChainID.Uint64()), BatchSize: 16,
		StatusInterval: 100 * time.Millisecond, ProgressInterval: time.Second,
		IsInvalid: func(err error) bool { return errors.Is(err, state.ErrInvalidBlock) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func waitSynced(t *testing.T, s *Syncer, fresh, honest *state.Chain) {
	t.Helper()
	want := honest.Head()
	p2ptest.Eventually(t, 30*time.Second, "sync to the honest head", func() bool {
		return fresh.Head().Number.Cmp(want.Number) == 0
	})
	if fresh.Head().Hash() != want.Hash() {
		t.Fatalf("synced head %s, want %s", fresh.Head().Hash(), want.Hash())
	}
}

func TestSyncOverMemnet(t *testing.T) {
	honest := buildChain(t, 40)
	fresh := newChain(t)
	hub := memnet.NewHub(1, nil)
	srvNode := hub.NewNode("server", chainStatus(honest), nil)
	cliNode := hub.NewNode("client", chainStatus(fresh), nil)
	if err := NewServer(honest, nil).Register(srvNode, Spec(1337)); err != nil {
		t.Fatal(err)
	}
	if err := hub.Connect("client", "server"); err != nil {
		t.Fatal(err)
	}
	hub.SetFault(memnet.Fault{MaxDelay: 2 * time.Millisecond})
	s := newSyncer(t, cliNode, fresh)
	waitSynced(t, s, fresh, honest)
	p2ptest.Eventually(t, 5*time.Second, "caught up", s.CaughtUp)
}

func TestForgedBlockPenalised(t *testing.T) {
	honest := buildChain(t, 30)
	fresh := newChain(t)
	evilKey, _ := crypto.GenerateKey()
	hub := memnet.NewHub(2, nil)
	cli := hub.NewNode("client", chainStatus(fresh), nil)
	good := hub.NewNode("honest", chainStatus(honest), nil)
	evil := hub.NewNode("evil", chainStatus(honest), nil)
	if err := NewServer(honest, nil).Register(good, Spec(1337)); err != nil {
		t.Fatal(err)
	}
	if err := NewServer(&forger{Chain: honest, bad: 5, extra: 10, key: evilKey, t: t}, nil).Register(evil, Spec(1337)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []p2p.PeerID{"honest", "evil"} {
		if err := hub.Connect("client", p); err != nil {
			t.Fatal(err)
		}
	}
	s := newSyncer(t, cli, fresh)
	waitSynced(t, s, fresh, honest)
	if cli.Score("evil") == 0 && !cli.Banned("evil") {
		t.Fatal("peer serving a forged block was not penalised")
	}
	if cli.Score("honest") != 0 {
		t.Fatalf("honest peer penalised: %v", cli.Score("honest"))
	}
}

func TestSyncOverLibp2p(t *testing.T) {
	honest := buildChain(t, 40)
	fresh := newChain(t)
	mk := func(c *state.Chain) *libp2p.Host {
		key, _, _ := lcrypto.GenerateEd25519Key(nil)
		h, err := libp2p.New(libp2p.Config{
			ChainID: 1337, Status: chainStatus(c), Key: key,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	srv, cli := mk(honest), mk(fresh)
	if err := NewServer(honest, nil).Register(srv, Spec(1337)); err != nil {
		t.Fatal(err)
	}
	info, err := peer.AddrInfoFromString(srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.ConnectPeer(context.Background(), *info); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, cli, fresh)
	waitSynced(t, s, fresh, honest)
}

func TestServerBoundsAndMalformed(t *testing.T) {
	honest := buildChain(t, 5)
	srv := NewServer(honest, nil)
	ctx := context.Background()
	if _, err := srv.Handle(ctx, "x", []byte{0xff}); !errors.Is(err, p2p.ErrMalformed) {
		t.Fatalf("garbage request: %v", err)
	}
	if _, err := srv.Handle(ctx, "x", Request{Kind: KindGetBlocks, From: 1, Count: MaxBlocksPerRequest + 1}.Encode()); !errors.Is(err, p2p.ErrMalformed) {
		t.Fatalf("over-count request: %v", err)
	}
	srv.maxBytes = 1500 // room for only a few blocks
	resp, err := srv.Handle(ctx, "x", Request{Kind: KindGetBlocks, From: 1, Count: 5}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := DecodeBlocks(resp, 5)
	if err != nil || len(entries) == 0 || len(entries) >= 5 || len(resp) > 1500 {
		t.Fatalf("bounded response: %d entries, %d bytes, %v", len(entries), len(resp), err)
	}
	if _, err := DecodeBlocks(resp, len(entries)-1); !errors.Is(err, ErrBadMessage) {
		t.Fatal("decoder accepted more blocks than asked for")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(Request{Kind: KindGetBlocks, From: 1, Count: 3}.Encode())
	f.Add(Request{Kind: KindGetStatus}.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), data) {
			t.Fatalf("not canonical: %x", data)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(Status{Number: 7, Hash: common.Hash{1}}.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStatus(data)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), data) {
			t.Fatalf("not canonical: %x", data)
		}
	})
}

func FuzzDecodeBlocks(f *testing.F) {
	// Seed with a real response.
	c, _ := state.Open(state.OpenMemoryStore(), genesis.Dev(), nil, nil)
	key := genesis.DevSignerKey()
	b, _ := c.BuildBlock(context.Background(), emptySource{}, state.BuildParams{Coinbase: crypto.PubkeyToAddress(key.PublicKey), Time: time.Now()})
	s, _ := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, key) })
	enc, _ := EncodeEntry(Entry{Block: b, Cert: &cert.Certificate{Seals: [][]byte{s}}})
	resp, _ := EncodeBlocks([]rlp.RawValue{enc})
	f.Add(resp)
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := DecodeBlocks(data, 4)
		if err != nil {
			return
		}
		raws := make([]rlp.RawValue, len(entries))
		for i, e := range entries {
			if raws[i], err = EncodeEntry(e); err != nil {
				t.Fatal(err)
			}
		}
		out, err := EncodeBlocks(raws)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("not canonical: %x", data)
		}
	})
}
