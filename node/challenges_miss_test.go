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
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
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

// recordingSender is a missSender that only records what it was asked.
type recordingSender struct{ nodes []common.Address }

func (r *recordingSender) RecordMiss(_ context.Context, _ uint64, node common.Address) error {
	r.nodes = append(r.nodes, node)
	return nil
}

// TestMissReporterTurns: five validators, one node that never commits
// (the real registry and verify modules on a state driven by hand: epochs
// of 40 blocks, epoch 0's only deadline block 2, so recordMiss is due
// from block 3). The three validators the node's challenge would have
// drawn take turns in draw order, MissRetryBlocks apart, each resending
// every MissRetryBlocks while the miss stays unrecorded; the two not
// drawn come after them all; once the miss is recorded nobody sends.
func TestMissReporterTurns(t *testing.T) {
	reg, err := native.Load(map[string]json.RawMessage{verify.Name: json.RawMessage(`{"pow": {"classes":
		[{"name": "gpu", "n": 64, "deadlineSeconds": 2}], "defaultClass": "gpu", "cpuClass": "gpu", "simulatedClass": "gpu"},
		"attestBlocks": 2}`)},
		map[string]native.Factory{
			registry.Name: registry.Factory(registry.Staking{EpochLength: 40, MinRouterStakeWei: uint256.NewInt(1)}),
			verify.Name:   verify.Factory(40, 2000),
		})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(native.VerifyAddress)
	mod := m.(*verify.Module)
	vabi := moduleABI(t, Modules{reg}, native.VerifyAddress)
	regABI := moduleABI(t, Modules{reg}, native.RegistryAddress)
	node := common.HexToAddress("0x0de")
	vals := []common.Address{{0xa1}, {0xa2}, {0xa3}, {0xa4}, {0xa5}}
	alloc := types.GenesisAlloc{node: {Balance: big.NewInt(1e18)}}
	for _, v := range vals {
		alloc[v] = types.Account{Balance: big.NewInt(1e18)}
	}
	ch := nativetest.New(t, reg, alloc)
	send := func(from, to common.Address, a abi.ABI, method string, args ...any) {
		t.Helper()
		msg := ch.Msg(from, &to, nil, pack(t, a, method, args...))
		msg.GasLimit = 3_000_000
		if res, _ := ch.Apply(msg); res.Err != nil {
			reason, _ := abi.UnpackRevert(res.ReturnData)
			t.Fatalf("%s: %v %q", method, res.Err, reason)
		}
	}
	ch.Number = 0
	nid, nsig, err := registry.SignPeerProof(newPeerKey(t), uint256.MustFromBig(ch.Config.ChainID), node)
	if err != nil {
		t.Fatal(err)
	}
	send(node, native.RegistryAddress, regABI, "registerNode", nid, nsig,
		crypto.Keccak256Hash([]byte("gpus")), uint32(1), "NVIDIA H200", uint64(143_771), false,
		[]string{"NVIDIA H200"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{{0xaa}})
	ch.Number = 1
	if err := reg.BeginBlock(ch.State, &native.BlockEnv{Number: 1, Time: ch.Time, ParentHash: common.Hash{0x5e},
		BaseFee: new(big.Int), EpochLength: 40, Validators: vals}); err != nil {
		t.Fatal(err)
	}
	seed, _, _ := verify.EpochSeed(ch.State, 0)
	drawn := mod.DrawVerifiers(ch.State, 0, pow.ChallengeSeed(seed, node), node)
	if len(drawn) != 3 {
		t.Fatalf("drawn %v", drawn)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	senders := map[common.Address]*recordingSender{}
	reporters := map[common.Address]*missReporter{}
	for _, v := range vals {
		senders[v] = &recordingSender{}
		reporters[v] = newMissReporter(mod, v, senders[v], log)
	}
	due := mod.MissDue(0)
	if due != 3 {
		t.Fatalf("MissDue %d", due)
	}
	first := map[common.Address]uint64{}
	sends := map[common.Address]int{}
	for head := uint64(1); head < due+4*MissRetryBlocks; head++ {
		for _, v := range vals {
			before := len(senders[v].nodes)
			if _, err := reporters[v].step(t.Context(), ch.State, head); err != nil {
				t.Fatal(err)
			}
			if len(senders[v].nodes) > before {
				sends[v]++
				if _, ok := first[v]; !ok {
					first[v] = head + 1
				}
			}
		}
	}
	for r, v := range drawn {
		if want := due + uint64(r)*MissRetryBlocks; first[v] != want {
			t.Fatalf("drawn verifier %d (%s) first sent in block %d, want %d", r, v, first[v], want)
		}
	}
	for _, v := range vals {
		if slices.Contains(drawn, v) {
			continue
		}
		if want := due + 3*MissRetryBlocks; first[v] != want {
			t.Fatalf("undrawn validator %s first sent in block %d, want %d", v, first[v], want)
		}
	}
	if sends[drawn[0]] != 5 { // blocks 3, 6, 9, 12, 15
		t.Fatalf("first reporter sent %d times, want 5", sends[drawn[0]])
	}
	// Recorded: nobody sends again.
	ch.Number = due + 4*MissRetryBlocks
	send(drawn[1], native.VerifyAddress, vabi, "recordMiss", uint64(0), node)
	for _, v := range vals {
		before := len(senders[v].nodes)
		for head := ch.Number; head < ch.Number+2*MissRetryBlocks; head++ {
			if _, err := reporters[v].step(t.Context(), ch.State, head); err != nil {
				t.Fatal(err)
			}
		}
		if len(senders[v].nodes) != before {
			t.Fatalf("%s sent a recorded miss", v)
		}
	}
}
