package node

// The challenge protocol over the node's own wiring: a compute node's
// challenge.Server on a real libp2p host, a validator's p2pFetcher on
// another, finding the node's peer id in the registry of an in-memory dev
// chain (the node registered with its libp2p key). The challenge itself
// comes from a fixed view (the services against the real verify module
// are tested in computing/challenge); this checks that the spec's bounds
// and the peer lookup carry a real answer of the most chunks a request may
// ask.

import (
	"context"
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
)

type fixedChallenge struct {
	node common.Address
	ch   verify.Challenge
}

func (f fixedChallenge) Challenge(epoch uint64, node common.Address) (verify.Challenge, error) {
	if epoch != 1 || node != f.node {
		return verify.Challenge{}, nil
	}
	return f.ch, nil
}
func (fixedChallenge) EpochSeed(uint64) (common.Hash, bool)  { return common.Hash{9}, true }
func (fixedChallenge) SampleSeed(uint64) (common.Hash, bool) { return common.Hash{5}, true }

func TestChallengeOpeningsOverLibp2p(t *testing.T) {
	f := newAssignFixture(t)
	nodeKey, _ := f.registerNode(1, common.Hash{0x1a})
	chainID := uint256.MustFromBig(f.chain.Config().ChainID)
	st := p2p.Status{ChainID: chainID.Uint64()}
	host := func(key lcrypto.PrivKey) *libp2p.Host {
		h, err := libp2p.New(libp2p.Config{ChainID: st.ChainID, Status: func() p2p.Status { return st }, Key: key,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	nodeHost, valHost := host(nodeKey), host(newPeerKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := valHost.Connect(ctx, nodeHost.Addrs()[0]); err != nil {
		t.Fatal(err)
	}

	valKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	val := crypto.PubkeyToAddress(valKey.PublicKey)
	const n, k = 256, pow.MaxOpenings // the default simulated class, the most chunks a request may ask
	w := pow.Workload{Seed: pow.ChallengeSeed(common.Hash{9}, f.node.addr), N: n}
	p, err := pow.Prove(ctx, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	view := fixedChallenge{node: f.node.addr, ch: verify.Challenge{Status: verify.StatusCommitted, Root: p.Root(), N: n,
		DeadlineBlock: 46, WindowEnd: 56, Verifiers: []common.Address{val}, Slots: []uint8{0}}}
	spec := challenge.Spec(p2p.Names{ChainID: st.ChainID}, 0)
	srv, err := challenge.NewServer(challenge.ServerConfig{ChainID: chainID, Owner: f.node.addr, Chain: view, Chunks: k, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(nodeHost, spec); err != nil {
		t.Fatal(err)
	}
	srv.Keep(1, p)

	fetcher := p2pFetcher{valHost, spec, chainResults{f.chain}}
	ask := func(key *ecdsa.PrivateKey) *challenge.Response {
		t.Helper()
		req, err := challenge.NewRequest(key, chainID, 1, f.node.addr, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		b, err := req.Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := fetcher.Fetch(ctx, f.node.addr, b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := challenge.DecodeResponse(raw, pow.MaxEncodedBytes)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := ask(valKey)
	if r.Code != challenge.CodeOK {
		t.Fatalf("verifier refused: %s %s", r.Code, r.Message)
	}
	if err := challenge.CheckOpenings(common.Hash{9}, f.node.addr, &view.ch, common.Hash{5}, val, k, r.Openings); err != nil {
		t.Fatalf("openings over libp2p fail the check: %v", err)
	}
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if r := ask(other); r.Code != challenge.CodeNotVerifier {
		t.Fatalf("non-verifier: %s", r.Code)
	}
	if _, err := fetcher.Fetch(ctx, common.Address{0x99}, nil); err == nil {
		t.Fatal("fetched from an unregistered node")
	}
}
