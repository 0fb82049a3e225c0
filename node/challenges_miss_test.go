package node

// The miss reporter against the real verify module on an in-memory chain
// (the node's own modules, sealed by the dev signer, the only validator):
// what it sends at each head is mined in the next block, as a chain
// would include it.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// missEpochLength and the classes' 8 s deadlines at 1 s blocks: epoch e's
// last commit deadline is block 30e+9, recordMiss is due from 30e+10.
const missEpochLength = 30

func newMissFixture(t *testing.T) *assignFixture {
	t.Helper()
	g := genesis.Dev()
	g.EpochLength = missEpochLength
	g.BlockPeriodMs = 1000
	g.Params[verify.Name] = json.RawMessage(`{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": 8},
		{"name": "cpu", "n": 64, "deadlineSeconds": 8},
		{"name": "gpu", "n": 128, "deadlineSeconds": 8}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated", "chunksPerValidator": 4},
		"attestBlocks": 10, "verifiers": 3, "passesNeeded": 2}`)
	f := &assignFixture{t: t, sealer: genesis.DevSignerKey()}
	g.Alloc[crypto.PubkeyToAddress(f.sealer.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	for _, a := range []**chainActor{&f.router, &f.node, &f.sub} {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		*a = &chainActor{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
		g.Alloc[(*a).addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	f.chain, f.mods = chain, mods
	return f
}

// registerActor registers a as a compute node with one H100 (the gpu
// class).
func (f *assignFixture) registerActor(a *chainActor) {
	t := f.t
	t.Helper()
	regABI := moduleABI(t, f.mods, native.RegistryAddress)
	nid, nsig, err := registry.SignPeerProof(newPeerKey(t), uint256.MustFromBig(f.chain.Config().ChainID), a.addr)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(a, native.RegistryAddress, nil, pack(t, regABI, "registerNode", nid, nsig,
		crypto.Keccak256Hash([]byte("inventory")), uint32(1), "NVIDIA H100", uint64(81_559), false,
		[]string{"NVIDIA H100"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{{1}})))
}

// minedMisses is a missSender that queues recordMiss calls from a
// validator's key for the next block; drop loses the next n of them.
type minedMisses struct {
	f     *assignFixture
	from  *chainActor
	queue []func() *types.Transaction
	sent  []common.Address
	drop  int
}

func (m *minedMisses) RecordMiss(_ context.Context, epoch uint64, node common.Address) error {
	m.sent = append(m.sent, node)
	if m.drop > 0 {
		m.drop--
		return nil // accepted by the wallet, never mined
	}
	vabi := moduleABI(m.f.t, m.f.mods, native.VerifyAddress)
	m.queue = append(m.queue, m.f.tx(m.from, native.VerifyAddress, nil, pack(m.f.t, vabi, "recordMiss", epoch, node)))
	return nil
}

func (f *assignFixture) headState() native.StateReader {
	f.t.Helper()
	st, err := f.chain.StateAt(f.chain.Head().Root)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// TestMissReporterRecordsMiss: two nodes are challenged in epoch 1; one
// commits a root, the other never does. The dev signer, the only
// validator and so the first verifier either would draw, records the
// miss once, inside the epoch, after losing its first transaction; an
// account that is not a validator never sends; the committed node is
// never reported.
func TestMissReporterRecordsMiss(t *testing.T) {
	f := newMissFixture(t)
	mod := f.mods.verify()
	if mod == nil {
		t.Fatal("no verify module")
	}
	f.registerActor(f.node)
	f.registerActor(f.sub)
	signer := &chainActor{key: f.sealer, addr: crypto.PubkeyToAddress(f.sealer.PublicKey)}
	val := &minedMisses{f: f, from: signer, drop: 1}
	outsider := &minedMisses{f: f, from: f.router}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rv := newMissReporter(mod, signer.addr, val, log)
	ro := newMissReporter(mod, f.router.addr, outsider, log)
	vabi := moduleABI(t, f.mods, native.VerifyAddress)

	const e = 1
	due := mod.MissDue(e)
	var sentAt []uint64
	for f.chain.Head().Number.Uint64() < 2*missEpochLength-1 {
		head := f.chain.Head().Number.Uint64()
		if head == missEpochLength+1 { // epoch 1's seed is on chain: f.sub commits
			f.mustMine(f.tx(f.sub, native.VerifyAddress, nil, pack(t, vabi, "commitRoot", uint64(e), [32]byte{7})))
			continue
		}
		st := f.headState()
		before := len(val.sent)
		if _, err := rv.step(t.Context(), st, head); err != nil {
			t.Fatalf("head %d: %v", head, err)
		}
		if len(val.sent) > before {
			sentAt = append(sentAt, head+1)
		}
		if _, err := ro.step(t.Context(), st, head); err != nil {
			t.Fatalf("outsider at head %d: %v", head, err)
		}
		txs := val.queue
		val.queue = nil
		f.mustMine(txs...)
	}
	for _, n := range val.sent {
		if n != f.node.addr {
			t.Fatalf("reported %s; only %s missed", n, f.node.addr)
		}
	}
	// The first send is lost; the second lands MissRetryBlocks later.
	if want := []uint64{due, due + MissRetryBlocks}; len(sentAt) != 2 || sentAt[0] != want[0] || sentAt[1] != want[1] {
		t.Fatalf("sent in blocks %v, want %v", sentAt, want)
	}
	if len(outsider.sent) != 0 {
		t.Fatalf("a non-validator sent %d recordMiss", len(outsider.sent))
	}
	st := f.headState()
	if got := verify.FaultsOf(st, f.node.addr); got != (verify.Faults{Missed: 1}) {
		t.Fatalf("missing node's counters %+v", got)
	}
	if ok, err := verify.MissRecorded(st, e, f.node.addr); err != nil || !ok {
		t.Fatalf("miss recorded %v %v", ok, err)
	}
	// The committed node's junk root got no pass (no verifier ran): its
	// challenge failed at the window's end, not missed.
	if got := verify.FaultsOf(st, f.sub.addr); got != (verify.Faults{Failed: 1}) {
		t.Fatalf("committed node's counters %+v", got)
	}
	// The router reads the recorded miss as a low score, below the
	// scheduler's minimum (a failure weighs the same); a node with no
	// record keeps the neutral score.
	view := &assign.StateView{S: st}
	for _, a := range []common.Address{f.node.addr, f.sub.addr} {
		if s := view.ScoreOf(a); s != 144_230 || s >= scheduler.DefaultMinScore {
			t.Fatalf("%s's score %d", a, s)
		}
	}
	if s := view.ScoreOf(f.router.addr); s != score.Neutral {
		t.Fatalf("a node without a record scores %d", s)
	}
}

// TestMissRank: the drawn verifier's rank is its draw position (the dev
// signer, the only validator, is first); an account outside the set, the
// node itself and an epoch without a seed have none.
func TestMissRank(t *testing.T) {
	f := newMissFixture(t)
	mod := f.mods.verify()
	f.registerActor(f.node)
	for f.chain.Head().Number.Uint64() < missEpochLength+1 {
		f.mustMine()
	}
	st := f.headState()
	signer := crypto.PubkeyToAddress(f.sealer.PublicKey)
	if r, ok := missRank(mod, st, 1, f.node.addr, signer); !ok || r != 0 {
		t.Fatalf("signer's rank %d %v, want 0", r, ok)
	}
	if _, ok := missRank(mod, st, 1, f.node.addr, f.router.addr); ok {
		t.Fatal("a non-validator has a rank")
	}
	if _, ok := missRank(mod, st, 1, signer, signer); ok {
		t.Fatal("a validator ranks for its own node")
	}
	if _, ok := missRank(mod, st, 5, f.node.addr, signer); ok {
		t.Fatal("a rank in an epoch without a seed")
	}
}
