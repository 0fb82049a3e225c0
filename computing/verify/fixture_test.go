// The verify tests run the module through a real go-ethereum EVM
// (state/native/nativetest) next to the real registry, staking and
// rewards modules: nodes register with peer proofs, blocks are driven by
// the fixture (BeginBlock with the epoch's validators and a parent hash
// that is a fixed function of the number, the transactions, EndBlock),
// and every piece of evidence is computed by computing/pow's prover, as a
// node would.
package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var (
	verifyAddr = native.VerifyAddress
	regAddr    = native.RegistryAddress
	n1         = common.HexToAddress("0x1100000000000000000000000000000000000001") // simulated GPUs: n = 256
	n2         = common.HexToAddress("0x1200000000000000000000000000000000000002") // simulated GPUs: n = 256
	n3         = common.HexToAddress("0x1300000000000000000000000000000000000003") // CPU-only: n = 64
	late       = common.HexToAddress("0x1400000000000000000000000000000000000004") // registers during epoch 1
	carol      = common.HexToAddress("0xca00000000000000000000000000000000000005") // no node
	v1         = common.HexToAddress("0xa100000000000000000000000000000000000011")
	v2         = common.HexToAddress("0xa200000000000000000000000000000000000012")
	v3         = common.HexToAddress("0xa300000000000000000000000000000000000013")
	v4         = common.HexToAddress("0xa400000000000000000000000000000000000014")
	v5         = common.HexToAddress("0xa500000000000000000000000000000000000015")
	accounts   = []common.Address{n1, n2, n3, late, carol, v1, v2, v3, v4, v5}
)

const (
	testEpochLength = 40
	testPeriodMs    = 2000
	// Classes: simulated n 256 (deadline 10 s: block b+6), CPU n 64 (20 s:
	// b+11), other GPUs n 128; 4 chunks a verifier, 10 blocks to attest.
	testParams = `{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": 10},
		{"name": "cpu", "n": 64, "deadlineSeconds": 20},
		{"name": "gpu", "n": 128, "deadlineSeconds": 10}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated", "chunksPerValidator": 4},
		"attestBlocks": 10, "verifiers": 3, "passesNeeded": 2}`
	// epoch 1 starts at block 40; its seed is stored in 41.
	e1      = uint64(1)
	e1Start = uint64(40)
	simDL   = e1Start + 1 + 5  // simulated deadline block
	cpuDL   = e1Start + 1 + 10 // CPU deadline block
	attestN = 10
)

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type fixture struct {
	*nativetest.Chain
	t                  testing.TB
	mod                *verify.Module
	abi, regABI, rwABI abi.ABI
	stkABI             abi.ABI
	validators         []common.Address
	blockGas           uint64
	provers            map[common.Address]*pow.Prover
	rw                 *rewards.Module
}

// newFixture loads staking, registry, rewards and verify, funds the
// accounts, registers n1 and n2 (simulated GPUs) and n3 (CPU-only) in
// block 1, sets the validators v1 … v5 and runs to block 41 (epoch 1's
// seed block).
func newFixture(t testing.TB) *fixture {
	return newFixtureWith(t, []common.Address{v1, v2, v3, v4, v5})
}

func newFixtureWith(t testing.TB, validators []common.Address) *fixture {
	t.Helper()
	return newFixtureCfg(t, validators, testParams)
}

// newFixtureCfg is newFixtureWith with the module's genesis params and
// options (rewards are always wired).
func newFixtureCfg(t testing.TB, validators []common.Address, params string, opts ...verify.Option) *fixture {
	t.Helper()
	st := registry.Staking{EpochLength: testEpochLength, MinRouterStakeWei: staking.DefaultParams().MinStakeWei[staking.RoleRouter]}
	rp, err := rewards.ParseModuleParams(nil, testEpochLength)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := rewards.NewModule(rp, staking.RewardsView{})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]json.RawMessage{
		registry.Name: json.RawMessage(`{"allowSimulatedGPUs":true}`), verify.Name: json.RawMessage(params),
		staking.Name: json.RawMessage(`{"minValidatorStakeWei":"1000000000000000000"}`),
	}
	reg, err := native.Load(raw, map[string]native.Factory{
		staking.Name:  staking.Factory(testEpochLength),
		registry.Name: registry.Factory(st),
		rewards.Name:  rewards.Factory(testEpochLength, staking.RewardsView{}),
		verify.Name:   verify.Factory(testEpochLength, testPeriodMs, append([]verify.Option{verify.WithRewards(rw)}, opts...)...),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, validators: validators, provers: map[common.Address]*pow.Prover{}, rw: rw}
	for addr, dst := range map[common.Address]*abi.ABI{verifyAddr: &f.abi, regAddr: &f.regABI, native.RewardsAddress: &f.rwABI, native.StakingAddress: &f.stkABI} {
		m, _ := reg.Lookup(addr)
		if *dst, err = abi.JSON(strings.NewReader(m.ABI())); err != nil {
			t.Fatal(err)
		}
		if addr == verifyAddr {
			f.mod = m.(*verify.Module)
		}
	}
	alloc := types.GenesisAlloc{}
	for _, a := range accounts {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	f.Chain = nativetest.New(t, reg, alloc)
	f.registerNode(n1, 1, 2, true)
	f.registerNode(n2, 2, 1, true)
	f.registerNode(n3, 3, 0, false)
	f.to(e1Start + 1)
	return f
}

func peerKeyFor(t testing.TB, seed int64) lcrypto.PrivKey {
	t.Helper()
	k, _, err := lcrypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// registerNode registers owner: gpus simulated H200s, or CPU-only for 0.
func (f *fixture) registerNode(owner common.Address, seed int64, gpus uint32, simulated bool) {
	f.t.Helper()
	id, sig, err := registry.SignPeerProof(peerKeyFor(f.t, seed), uint256.MustFromBig(nativetest.Config().ChainID), owner)
	if err != nil {
		f.t.Fatal(err)
	}
	model, mem, models, prices, cpu := "NVIDIA H200", uint64(143_771), []string{"NVIDIA H200"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0)
	if gpus == 0 {
		model, mem, models, prices, cpu = "", 0, []string{}, []*big.Int{}, big.NewInt(1e8)
	}
	f.mustCall(regAddr, f.regABI, owner, "registerNode", id, sig, [32]byte{byte(seed)}, gpus, model, mem, simulated,
		models, prices, cpu, [][32]byte{{0xaa}})
}

func (f *fixture) env() *native.BlockEnv {
	return &native.BlockEnv{
		Number: f.Number, Time: f.Time, Coinbase: f.Coinbase, BaseFee: big.NewInt(nativetest.BaseFeeWei),
		EpochLength: testEpochLength, GasUsed: f.blockGas, Validators: f.validators,
		ParentHash: crypto.Keccak256Hash([]byte("block"), new(big.Int).SetUint64(f.Number-1).Bytes()),
	}
}

// next ends the current block and begins the next (2 s later).
func (f *fixture) next() {
	f.t.Helper()
	if err := f.Registry.EndBlock(f.State, f.env()); err != nil {
		f.t.Fatalf("EndBlock %d: %v", f.Number, err)
	}
	f.blockGas = 0
	f.State.Finalise(f.Rules())
	f.Number++
	f.Time += testPeriodMs / 1000
	if err := f.Registry.BeginBlock(f.State, f.env()); err != nil {
		f.t.Fatalf("BeginBlock %d: %v", f.Number, err)
	}
	f.State.Finalise(f.Rules())
}

// to runs blocks until the current block is n.
func (f *fixture) to(n uint64) {
	f.t.Helper()
	for f.Number < n {
		f.next()
	}
}

type result struct {
	gasUsed uint64
	err     error
	ret     []byte
	logs    []*types.Log
}

func (r *result) reason() string {
	if r.err == nil {
		return ""
	}
	s, err := abi.UnpackRevert(r.ret)
	if err != nil {
		return r.err.Error()
	}
	return s
}

func (f *fixture) call(to common.Address, a abi.ABI, from common.Address, name string, args ...any) *result {
	f.t.Helper()
	return f.callValue(to, a, from, nil, name, args...)
}

func (f *fixture) callValue(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	msg := f.Msg(from, &to, value, data)
	msg.GasLimit = 5_000_000
	res, logs := f.Apply(msg)
	f.blockGas += res.UsedGas
	return &result{res.UsedGas, res.Err, res.ReturnData, logs}
}

func (f *fixture) mustCall(to common.Address, a abi.ABI, from common.Address, name string, args ...any) *result {
	f.t.Helper()
	r := f.call(to, a, from, name, args...)
	if r.err != nil {
		f.t.Fatalf("%s by %s: %v %q", name, from, r.err, r.reason())
	}
	return r
}

// send calls the verify module and fails unless it succeeds.
func (f *fixture) send(from common.Address, name string, args ...any) *result {
	f.t.Helper()
	return f.mustCall(verifyAddr, f.abi, from, name, args...)
}

// mustRevert calls the verify module and checks it reverts with want,
// emits nothing and leaves the module's storage as it was.
func (f *fixture) mustRevert(from common.Address, want error, name string, args ...any) {
	f.t.Helper()
	root := f.State.GetStorageRoot(verifyAddr)
	r := f.call(verifyAddr, f.abi, from, name, args...)
	if !errors.Is(r.err, vm.ErrExecutionReverted) || !strings.HasPrefix(r.reason(), want.Error()) {
		f.t.Fatalf("%s by %s: err %v reason %q, want %q", name, from, r.err, r.reason(), want)
	}
	if len(r.logs) != 0 {
		f.t.Fatalf("%s: %d logs on revert", name, len(r.logs))
	}
	if f.State.GetStorageRoot(verifyAddr) != root {
		f.t.Fatalf("%s: module state changed on revert", name)
	}
}

// seed is epoch e's stored seed.
func (f *fixture) seed(e uint64) common.Hash {
	f.t.Helper()
	s, _, ok := verify.EpochSeed(f.State, e)
	if !ok {
		f.t.Fatalf("no seed for epoch %d at block %d", e, f.Number)
	}
	return s
}

// prove computes node's honest answer to its challenge of epoch e with
// problem size n and keeps the prover.
func (f *fixture) prove(node common.Address, e uint64, n int) *pow.Prover {
	f.t.Helper()
	p, err := pow.Prove(context.Background(), pow.Workload{Seed: pow.ChallengeSeed(f.seed(e), node), N: n}, 2)
	if err != nil {
		f.t.Fatal(err)
	}
	f.provers[node] = p
	return p
}

// commit has node commit root in epoch e.
func (f *fixture) commit(node common.Address, e uint64, root common.Hash) *result {
	f.t.Helper()
	return f.send(node, "commitRoot", e, [32]byte(root))
}

// challenge reads node's challenge of epoch e now.
func (f *fixture) challenge(node common.Address, e uint64) verify.Challenge {
	f.t.Helper()
	ch, err := f.mod.ChallengeOf(f.State, e, node, f.Number)
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

// evidence is p's openings of the chunks verifier v is due for node's
// challenge of epoch e (the window must be open: the sample seed is on
// chain).
func (f *fixture) evidence(p *pow.Prover, node common.Address, e uint64, v common.Address) []byte {
	f.t.Helper()
	ch := f.challenge(node, e)
	sampleSeed, ok := verify.SampleSeed(f.State, ch.DeadlineBlock)
	if !ok {
		f.t.Fatalf("no sample seed for block %d at block %d", ch.DeadlineBlock, f.Number)
	}
	n := p.Workload().N
	chunks, err := pow.SampleChunks(sampleSeed, p.Root(), v, n, f.mod.Params().PoW.ChunksPerValidator)
	if err != nil {
		f.t.Fatal(err)
	}
	ops, err := p.Open(chunks)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := pow.EncodeOpenings(n, ops)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// faults reads who's counters.
func (f *fixture) faults(who common.Address) verify.Faults { return verify.FaultsOf(f.State, who) }

// credits is who's compute credits in reward epoch k.
func (f *fixture) credits(k uint64, who common.Address) uint64 {
	for _, e := range rewards.LedgerOf(f.State, k) {
		if e.Owner == who {
			return e.Credits
		}
	}
	return 0
}

type bigInt = big.Int

func bigOne() *big.Int          { return big.NewInt(1) }
func bigZero() *big.Int         { return big.NewInt(0) }
func bigInt64(v int64) *big.Int { return big.NewInt(v) }

// jobDone credits node's owner for a settled job, as the jobs module does
// (rewards.ComputeJobDone from the jobs module's Call), and returns the
// credits added.
func (f *fixture) jobDone(node common.Address) uint64 {
	f.t.Helper()
	got, err := f.rw.ComputeJobDone(f.moduleCall(native.JobsAddress), node)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// routerCredit credits router as the jobs module does for an accepted
// assignment.
func (f *fixture) routerCredit(router common.Address) {
	f.t.Helper()
	if err := f.rw.RouterAccepted(f.moduleCall(native.JobsAddress), router); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) moduleCall(addr common.Address) *native.Call {
	return &native.Call{State: f.State, Module: addr, BlockNumber: f.Number, Time: f.Time, Value: new(uint256.Int), ChainID: new(uint256.Int)}
}
