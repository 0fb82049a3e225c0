package verify_test

// TestOnChain runs one challenge through the real block executor
// (state.Chain: BuildBlock, InsertBlock, the hooks with the header's
// parent hash and the epoch's validator set) with the modules the node
// loads (node.LoadModules on a genesis that names "verify") and signed
// transactions, then has a second node validate every block and reach the
// same state root.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

type txList struct{ txs []*types.Transaction }

func (l *txList) Peek() *types.Transaction {
	if len(l.txs) == 0 {
		return nil
	}
	return l.txs[0]
}
func (l *txList) Shift() { l.txs = l.txs[1:] }
func (l *txList) Pop()   { l.txs = nil }

type chainFixture struct {
	t      *testing.T
	chain  *state.Chain
	keys   []*ecdsa.PrivateKey
	nonces map[common.Address]uint64
	blocks []*types.Block
	certs  []*cert.Certificate
	abis   map[common.Address]abi.ABI
}

func (cf *chainFixture) tx(from int, to common.Address, value *big.Int, name string, args ...any) *types.Transaction {
	cf.t.Helper()
	var data []byte
	if name != "" {
		a := cf.abis[to]
		var err error
		if data, err = a.Pack(name, args...); err != nil {
			cf.t.Fatal(err)
		}
	}
	key := cf.keys[from]
	addr := crypto.PubkeyToAddress(key.PublicKey)
	cid := cf.chain.Config().ChainID
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(cid), &types.DynamicFeeTx{
		ChainID: cid, Nonce: cf.nonces[addr], GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
		Gas: 3_000_000, To: &to, Value: value, Data: data,
	})
	if err != nil {
		cf.t.Fatal(err)
	}
	cf.nonces[addr]++
	return tx
}

// mine builds, seals and inserts a block of txs, 2 s after its parent,
// and fails unless every transaction is in it and succeeded.
func (cf *chainFixture) mine(txs ...*types.Transaction) *types.Block {
	cf.t.Helper()
	head := cf.chain.Head()
	var parentCert *cert.Certificate
	if head.Number.Sign() > 0 {
		c, err := cf.chain.Certificate(head.Number.Uint64(), head.Hash())
		if err != nil || c == nil {
			cf.t.Fatalf("head certificate: %v", err)
		}
		parentCert = c
	}
	signer := genesis.DevSignerKey()
	b, err := cf.chain.BuildBlock(context.Background(), &txList{txs: txs}, state.BuildParams{
		Coinbase: crypto.PubkeyToAddress(signer.PublicKey), Time: time.Unix(int64(head.Time)+2, 0), ParentCommit: parentCert,
	})
	if err != nil {
		cf.t.Fatal(err)
	}
	s, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, signer) })
	if err != nil {
		cf.t.Fatal(err)
	}
	ct := &cert.Certificate{Seals: [][]byte{s}}
	if err := cf.chain.InsertBlock(context.Background(), b, ct); err != nil {
		cf.t.Fatal(err)
	}
	if len(b.Transactions()) != len(txs) {
		cf.t.Fatalf("block %d holds %d of %d transactions", b.NumberU64(), len(b.Transactions()), len(txs))
	}
	for i, r := range cf.chain.Receipts(b.Hash()) {
		if r.Status != types.ReceiptStatusSuccessful {
			cf.t.Fatalf("block %d tx %d failed", b.NumberU64(), i)
		}
	}
	cf.blocks, cf.certs = append(cf.blocks, b), append(cf.certs, ct)
	return b
}

func (cf *chainFixture) mineTo(n uint64) {
	cf.t.Helper()
	for cf.chain.Head().Number.Uint64() < n {
		cf.mine()
	}
}

func (cf *chainFixture) head() native.StateReader {
	cf.t.Helper()
	st, err := cf.chain.StateAt(cf.chain.Head().Root)
	if err != nil {
		cf.t.Fatal(err)
	}
	return st
}

func TestOnChain(t *testing.T) {
	const epochLength = 30
	g := genesis.Dev()
	g.EpochLength = epochLength
	g.Params[verify.Name] = json.RawMessage(`{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": 10},
		{"name": "cpu", "n": 64, "deadlineSeconds": 20},
		{"name": "gpu", "n": 128, "deadlineSeconds": 10}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated"}, "attestBlocks": 5}`)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	mods, err := node.LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	reg := mods.Registry
	m, ok := reg.Lookup(native.VerifyAddress)
	if !ok {
		t.Fatal("node.LoadModules did not load the verify module")
	}
	mod := m.(*verify.Module)
	open := func() *state.Chain {
		c, err := state.Open(state.OpenMemoryStore(), g, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	keys, err := genesis.DevAccountKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, genesis.DevSignerKey())
	const owner, funder, validator = 0, 1, 2
	addr := func(i int) common.Address { return crypto.PubkeyToAddress(keys[i].PublicKey) }
	cf := &chainFixture{t: t, chain: open(), keys: keys, nonces: map[common.Address]uint64{}, abis: map[common.Address]abi.ABI{}}
	for _, m := range reg.All() {
		a, err := abi.JSON(strings.NewReader(m.ABI()))
		if err != nil {
			t.Fatal(err)
		}
		cf.abis[m.Address()] = a
	}
	cid := uint256.MustFromBig(cf.chain.Config().ChainID)
	nid, nsig, err := registry.SignPeerProof(peerKeyFor(t, 22), cid, addr(owner))
	if err != nil {
		t.Fatal(err)
	}
	cf.mine(
		cf.tx(owner, native.RegistryAddress, nil, "registerNode", nid, nsig, [32]byte{1}, uint32(1), "NVIDIA H200",
			uint64(143_771), true, []string{"NVIDIA H200"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{{0xaa}}),
		cf.tx(funder, addr(validator), new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18)), ""), // gas money for the dev signer
	)
	cf.mineTo(epochLength + 1) // epoch 1's seed block
	st := cf.head()
	seed, _, ok := verify.EpochSeed(st, 1)
	if !ok || seed != cf.blocks[epochLength-1].Hash() {
		t.Fatalf("epoch 1 seed %x (%v), want block %d's hash", seed, ok, epochLength)
	}
	p, err := pow.Prove(context.Background(), pow.Workload{Seed: pow.ChallengeSeed(seed, addr(owner)), N: 256}, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf.mine(cf.tx(owner, native.VerifyAddress, nil, "commitRoot", uint64(1), [32]byte(p.Root())))
	ch, err := mod.ChallengeOf(cf.head(), 1, addr(owner), cf.chain.Head().Number.Uint64())
	if err != nil {
		t.Fatal(err)
	}
	// The dev chain has one validator, the signer: one slot, one pass.
	if ch.Status != verify.StatusCommitted || len(ch.Verifiers) != 1 || ch.Verifiers[0] != addr(validator) || ch.Needed != 1 {
		t.Fatalf("challenge %+v", ch)
	}
	cf.mineTo(ch.DeadlineBlock)
	// The sample seed is the deadline block's hash, known now.
	sampleSeed := cf.chain.Head().Hash()
	chunks, err := pow.SampleChunks(sampleSeed, p.Root(), addr(validator), 256, pow.DefaultChunksPerValidator)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := p.Open(chunks)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := pow.EncodeOpenings(256, ops)
	if err != nil {
		t.Fatal(err)
	}
	cf.mine(cf.tx(validator, native.VerifyAddress, nil, "attest", uint64(1), addr(owner), ev))
	if got, ok := verify.SampleSeed(cf.head(), ch.DeadlineBlock); !ok || got != sampleSeed {
		t.Fatalf("stored sample seed %x, want %x", got, sampleSeed)
	}
	cf.mineTo(ch.WindowEnd)
	st = cf.head()
	after, err := mod.ChallengeOf(st, 1, addr(owner), ch.WindowEnd)
	if err != nil || after.Status != verify.StatusVerified {
		t.Fatalf("after the window: %+v %v", after, err)
	}
	if got := verify.FaultsOf(st, addr(owner)); got != (verify.Faults{Passed: 1}) {
		t.Fatalf("faults %+v", got)
	}
	k := rewards.RewardEpoch(ch.WindowEnd, epochLength)
	credited := uint64(0)
	for _, e := range rewards.LedgerOf(st, k) {
		if e.Owner == addr(owner) {
			credited = e.Credits
		}
	}
	if credited != rewards.DefaultComputeCreditsPerTask {
		t.Fatalf("credits %d, want %d", credited, rewards.DefaultComputeCreditsPerTask)
	}

	// Another node validates every block and reaches the same root.
	other := open()
	for i, b := range cf.blocks {
		if err := other.InsertBlock(context.Background(), b, cf.certs[i]); err != nil {
			t.Fatalf("validating block %d: %v", b.NumberU64(), err)
		}
	}
	if other.Head().Root != cf.chain.Head().Root {
		t.Fatal("a validating node reached another state root")
	}
}
