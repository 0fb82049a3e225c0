// The apps tests run the module through a real go-ethereum EVM
// (state/native/nativetest) next to the real staking, registry and credits
// modules: a router stakes and registers, nodes register with peer proofs,
// and blocks are driven by the fixture (EndBlock with the block's gas so
// the base-fee burn is counted). After every step the fixture checks the
// module's invariants (its balance equals EscrowTotal and the open
// instances' uncharged EMC escrow; the Credits it holds equal
// CreditsEscrowTotal and the open instances' unspent Credits) and that the
// supply is exact to the wei: Σ balances + burned == the genesis total.
package apps_test

import (
	"crypto/ecdsa"
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

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var (
	appsAddr    = native.AppsAddress
	regAddr     = native.RegistryAddress
	stakingAddr = native.StakingAddress
	creditsAddr = native.CreditsAddress
	imageA      = common.Hash{0xaa}
	imageB      = common.Hash{0xbb}
)

// Deterministic keys: the router and nodes sign receipts.
var (
	dev, user, r1Key, r2Key, n1Key, n2Key, strangerKey = key("dev"), key("user"), key("r1"), key("r2"), key("n1"), key("n2"), key("stranger")
	devA, userA, r1, r2, n1, n2, stranger              = addr(dev), addr(user), addr(r1Key), addr(r2Key), addr(n1Key), addr(n2Key), addr(strangerKey)
	accounts                                           = []common.Address{devA, userA, r1, r2, n1, n2, stranger}
)

func key(seed string) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("apps test " + seed)))
	if err != nil {
		panic(err)
	}
	return k
}

func addr(k *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(k.PublicKey) }

const (
	testEpochLength = 10
	testPeriodMs    = 2000
	testParams      = `{"placeBlocks":10,"readyBlocks":5,"settleBlocks":4,"livenessBlocks":50}`
	perCall         = 1_000_003
	perGPUSecond    = 7_000_000_019
)

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type fixture struct {
	*nativetest.Chain
	t                           testing.TB
	mod                         *apps.Module
	credits                     *credits.Module
	abi, regABI, stkABI, crdABI abi.ABI
	blockGas                    uint64
	genesisSupply               *uint256.Int
	chainID                     uint64
}

// newFixture builds the chain: routers r1 (100 EMC) and r2 staked and
// registered, nodes n1 (2 GPUs, images A and B) and n2 (1 GPU, image A)
// registered, at block 21.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	stRaw := json.RawMessage(`{"minRouterStakeWei":"100000000000000000000"}`)
	sp, err := staking.ParseParams(stRaw, testEpochLength)
	if err != nil {
		t.Fatal(err)
	}
	st := registry.Staking{EpochLength: testEpochLength, MinRouterStakeWei: sp.MinStakeWei[staking.RoleRouter]}
	cm, err := credits.NewModule(credits.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]json.RawMessage{staking.Name: stRaw, registry.Name: json.RawMessage(`{"allowSimulatedGPUs":true}`),
		apps.Name: json.RawMessage(testParams), credits.Name: nil}
	factories := map[string]native.Factory{
		staking.Name:  staking.Factory(testEpochLength),
		registry.Name: registry.Factory(st),
		credits.Name:  func(json.RawMessage) (native.Module, error) { return cm, nil },
		apps.Name:     apps.Factory(st, testPeriodMs, apps.WithCredits(cm)),
	}
	reg, err := native.Load(raw, factories)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, credits: cm, chainID: nativetest.Config().ChainID.Uint64()}
	for a, dst := range map[common.Address]*abi.ABI{appsAddr: &f.abi, regAddr: &f.regABI, stakingAddr: &f.stkABI, creditsAddr: &f.crdABI} {
		m, _ := reg.Lookup(a)
		if *dst, err = abi.JSON(strings.NewReader(m.ABI())); err != nil {
			t.Fatal(err)
		}
		if a == appsAddr {
			f.mod = m.(*apps.Module)
		}
	}
	alloc := types.GenesisAlloc{}
	for _, a := range accounts {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	f.Chain = nativetest.New(t, reg, alloc)
	f.genesisSupply = f.supply()
	for _, r := range []common.Address{r1, r2} {
		f.mustCall(stakingAddr, f.stkABI, r, emc(100), "stake", uint8(staking.RoleRouter), uint8(0))
	}
	f.Number = 2 * testEpochLength
	for i, r := range []common.Address{r1, r2} {
		id, sig := proof(t, int64(10+i), r)
		f.mustCall(regAddr, f.regABI, r, nil, "registerRouter", id, sig)
	}
	f.registerNode(n1, 1, 2, imageA, imageB)
	f.registerNode(n2, 2, 1, imageA)
	f.next()
	return f
}

func peerKey(t testing.TB, seed int64) lcrypto.PrivKey {
	t.Helper()
	k, _, err := lcrypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func proof(t testing.TB, seed int64, owner common.Address) (peerID, sig []byte) {
	t.Helper()
	k := peerKey(t, seed)
	id, sig, err := registry.SignPeerProof(k, uint256.MustFromBig(nativetest.Config().ChainID), owner)
	if err != nil {
		t.Fatal(err)
	}
	return id, sig
}

func (f *fixture) registerNode(owner common.Address, seed int64, gpus uint32, images ...common.Hash) {
	f.t.Helper()
	id, sig := proof(f.t, seed, owner)
	imgs := make([][32]byte, len(images))
	for i, d := range images {
		imgs[i] = d
	}
	model := "NVIDIA H200"
	f.mustCall(regAddr, f.regABI, owner, nil, "registerNode", id, sig, [32]byte(crypto.Keccak256Hash([]byte(model))), gpus, model,
		uint64(143_771), true, []string{model}, []*big.Int{big.NewInt(1_000_000_000)}, big.NewInt(0), imgs)
}

func (f *fixture) supply() *uint256.Int {
	sum := native.BurnedTotal(f.State).Clone()
	sum.Add(sum, new(uint256.Int).Mul(uint256.NewInt(f.blockGas), uint256.NewInt(nativetest.BaseFeeWei)))
	for _, a := range append([]common.Address{appsAddr, regAddr, stakingAddr, creditsAddr, native.SupplyAddress, f.Coinbase}, accounts...) {
		sum.Add(sum, f.State.GetBalance(a))
	}
	return sum
}

func (f *fixture) env() *native.BlockEnv {
	return &native.BlockEnv{Number: f.Number, Time: f.Time, Coinbase: f.Coinbase, BaseFee: big.NewInt(nativetest.BaseFeeWei),
		EpochLength: testEpochLength, GasUsed: f.blockGas,
		ParentHash: crypto.Keccak256Hash([]byte("block"), new(big.Int).SetUint64(f.Number-1).Bytes())}
}

func (f *fixture) next() {
	f.t.Helper()
	if err := f.Registry.EndBlock(f.State, f.env()); err != nil {
		f.t.Fatalf("EndBlock %d: %v", f.Number, err)
	}
	f.blockGas = 0
	f.State.Finalise(f.Rules())
	f.check()
	f.Number++
	f.Time += testPeriodMs / 1000
	if err := f.Registry.BeginBlock(f.State, f.env()); err != nil {
		f.t.Fatalf("BeginBlock %d: %v", f.Number, err)
	}
	f.State.Finalise(f.Rules())
	f.check()
}

func (f *fixture) to(n uint64) {
	f.t.Helper()
	for f.Number < n {
		f.next()
	}
}

// check asserts the invariants and the supply.
func (f *fixture) check() {
	f.t.Helper()
	open, openCredits := new(uint256.Int), new(uint256.Int)
	deployed := map[uint64]bool{}
	for off := uint64(0); ; off += apps.MaxPage {
		ids, total := apps.DeployedInstances(f.State, off, apps.MaxPage)
		for _, id := range ids {
			if deployed[id] {
				f.t.Fatalf("block %d: instance %d listed twice", f.Number, id)
			}
			deployed[id] = true
		}
		if len(ids) == 0 || off+apps.MaxPage >= total {
			if uint64(len(deployed)) != total {
				f.t.Fatalf("block %d: deployed list pages %d ids, total %d", f.Number, len(deployed), total)
			}
			break
		}
	}
	for id := uint64(1); id <= apps.InstanceCount(f.State); id++ {
		in, ok, err := apps.InstanceOf(f.State, id)
		if err != nil || !ok {
			f.t.Fatalf("block %d: instance %d: %v %v", f.Number, id, ok, err)
		}
		if (in.State == apps.StateDeployed) != deployed[id] {
			f.t.Fatalf("block %d: instance %d is %s, listed as deployed: %v", f.Number, id, in.State, deployed[id])
		}
		if in.Restarts > f.mod.Params().MaxRestarts || in.Seq>>apps.EpochShift > uint64(in.Restarts) {
			f.t.Fatalf("block %d: instance %d: %d restarts (at most %d), settled sequence %d", f.Number, id, in.Restarts, f.mod.Params().MaxRestarts, in.Seq)
		}
		if in.InCredits() == !in.EscrowWei.IsZero() {
			f.t.Fatalf("block %d: instance %d escrows %s wei and %s Credits", f.Number, id, in.EscrowWei, in.EscrowCredits)
		}
		paid := new(uint256.Int).Add(in.NodeWei, in.RoyaltyWei)
		if paid.Add(paid, in.BurnedWei); !paid.Eq(in.ChargedWei) {
			f.t.Fatalf("block %d: instance %d: node+royalty+burn %s, charged %s", f.Number, id, paid, in.ChargedWei)
		}
		if in.State == apps.StateClosed {
			if in.InCredits() {
				if s := new(uint256.Int).Add(in.ChargedCredits, in.RefundCredits); !s.Eq(in.EscrowCredits) {
					f.t.Fatalf("block %d: instance %d: charged+refund %s Credits of %s", f.Number, id, s, in.EscrowCredits)
				}
			} else if s := new(uint256.Int).Add(in.ChargedWei, in.RefundWei); !s.Eq(in.EscrowWei) {
				f.t.Fatalf("block %d: instance %d: charged+refund %s wei of %s", f.Number, id, s, in.EscrowWei)
			}
			continue
		}
		if in.InCredits() {
			openCredits.Add(openCredits, new(uint256.Int).Sub(in.EscrowCredits, in.ChargedCredits))
		} else {
			open.Add(open, new(uint256.Int).Sub(in.EscrowWei, in.ChargedWei))
		}
	}
	if bal := f.State.GetBalance(appsAddr); !bal.Eq(open) || !apps.EscrowTotal(f.State).Eq(open) {
		f.t.Fatalf("block %d: module balance %s, escrow total %s, open escrows %s", f.Number, bal, apps.EscrowTotal(f.State), open)
	}
	if held := credits.CreditsOf(f.State, appsAddr); !held.Eq(openCredits) || !apps.CreditsEscrowTotal(f.State).Eq(openCredits) {
		f.t.Fatalf("block %d: module holds %s Credits, total %s, open %s", f.Number, held, apps.CreditsEscrowTotal(f.State), openCredits)
	}
	price := f.credits.CreditPriceWei()
	if res, want := credits.Reserve(f.State), new(uint256.Int).Mul(credits.TotalCredits(f.State), price); !res.Eq(want) || !f.State.GetBalance(creditsAddr).Eq(res) {
		f.t.Fatalf("block %d: credits reserve %s, total × price %s", f.Number, res, want)
	}
	if got := f.supply(); !got.Eq(f.genesisSupply) {
		f.t.Fatalf("block %d: supply %s, genesis %s", f.Number, got, f.genesisSupply)
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

func (f *fixture) call(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	msg := f.Msg(from, &to, value, data)
	msg.GasLimit = 8_000_000
	res, logs := f.Apply(msg)
	f.blockGas += res.UsedGas
	return &result{res.UsedGas, res.Err, res.ReturnData, logs}
}

func (f *fixture) mustCall(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	r := f.call(to, a, from, value, name, args...)
	if r.err != nil {
		f.t.Fatalf("%s by %s: %v %q", name, from, r.err, r.reason())
	}
	return r
}

func (f *fixture) send(from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	r := f.call(appsAddr, f.abi, from, value, name, args...)
	f.check()
	return r
}

func (f *fixture) mustSend(from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	r := f.send(from, value, name, args...)
	if r.err != nil {
		f.t.Fatalf("%s by %s: %v %q", name, from, r.err, r.reason())
	}
	return r
}

// mustRevert sends and checks the call reverts with want, emits nothing,
// leaves the module's storage and balance (and the credits module's) as
// they were, and costs the sender the fee only.
func (f *fixture) mustRevert(from common.Address, value *uint256.Int, want error, name string, args ...any) *result {
	f.t.Helper()
	root, crdRoot := f.State.GetStorageRoot(appsAddr), f.State.GetStorageRoot(creditsAddr)
	modBal := f.State.GetBalance(appsAddr).Clone()
	before := f.State.GetBalance(from).Clone()
	r := f.send(from, value, name, args...)
	if !errors.Is(r.err, vm.ErrExecutionReverted) || !strings.HasPrefix(r.reason(), want.Error()) {
		f.t.Fatalf("%s by %s: err %v reason %q, want %q", name, from, r.err, r.reason(), want)
	}
	if len(r.logs) != 0 {
		f.t.Fatalf("%s: %d logs on revert", name, len(r.logs))
	}
	if f.State.GetStorageRoot(appsAddr) != root || !f.State.GetBalance(appsAddr).Eq(modBal) || f.State.GetStorageRoot(creditsAddr) != crdRoot {
		f.t.Fatalf("%s: module state changed on revert", name)
	}
	if got, want := f.State.GetBalance(from), new(uint256.Int).Sub(before, nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		f.t.Fatalf("%s: sender balance %s, want %s", name, got, want)
	}
	return r
}

func (f *fixture) view(name string, args ...any) []any {
	f.t.Helper()
	data, err := f.abi.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	res := f.Call(f.Msg(stranger, &appsAddr, nil, data))
	if res.Err != nil {
		f.t.Fatalf("%s: %v", name, res.Err)
	}
	out, err := f.abi.Unpack(name, res.ReturnData)
	if err != nil {
		f.t.Fatalf("%s: unpack: %v", name, err)
	}
	return out
}

func (f *fixture) inst(id uint64) apps.Instance {
	f.t.Helper()
	in, ok, err := apps.InstanceOf(f.State, id)
	if err != nil || !ok {
		f.t.Fatalf("instance %d: %v %v", id, ok, err)
	}
	return in
}

func big64(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// publish publishes an app on imageA by dev at the test prices and
// royaltyBps and returns its id.
func (f *fixture) publish(royaltyBps uint16) uint64 {
	f.t.Helper()
	r := f.mustSend(devA, nil, "publishApp", [32]byte(imageA), uint16(8080), "/health", "llama-8b", "chat model", "POST /v1/chat",
		big64(perCall), big64(perGPUSecond), royaltyBps)
	return f.unpackID("publishApp", r)
}

func (f *fixture) unpackID(method string, r *result) uint64 {
	f.t.Helper()
	out, err := f.abi.Unpack(method, r.ret)
	if err != nil {
		f.t.Fatal(err)
	}
	return out[0].(*big.Int).Uint64()
}

var apiKeyHash = [32]byte(crypto.Keccak256Hash([]byte("secret key")))

// deploy deploys app for user with gpus and hours and escrow wei.
func (f *fixture) deploy(app uint64, gpus uint32, hours uint64, escrow *uint256.Int) uint64 {
	f.t.Helper()
	return f.unpackID("deploy", f.mustSend(userA, escrow, "deploy", big64(app), gpus, hours, apiKeyHash))
}

// running deploys and places the instance on n1 by r1 and has n1 report
// ready.
func (f *fixture) running(app uint64, escrow *uint256.Int) uint64 {
	f.t.Helper()
	id := f.deploy(app, 1, 2, escrow)
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustSend(n1, nil, "ready", big64(id))
	return id
}

// meter is a node's and router's metering of one instance.
type meter struct {
	m            *apps.Meter
	node, router *ecdsa.PrivateKey
	chainID      uint64
	instance     uint64
	epoch        uint8 // the placement epoch (Instance.Restarts) it meters
}

func (f *fixture) meter(instance uint64, node, router *ecdsa.PrivateKey) *meter {
	return &meter{m: apps.NewMeter(f.chainID, instance, uint256.NewInt(perCall), uint256.NewInt(perGPUSecond)),
		node: node, router: router, chainID: f.chainID, instance: instance}
}

// calls meters n calls of gpuMillis each and returns the newest receipt,
// signed.
func (mt *meter) calls(t testing.TB, n int, gpuMillis uint64) []byte {
	t.Helper()
	var r apps.Receipt
	for i := 0; i < n; i++ {
		var err error
		if r, err = mt.m.Call(apps.RequestDigest("POST", "/v1/chat", [32]byte{byte(i)}), gpuMillis); err != nil {
			t.Fatal(err)
		}
	}
	return signBody(t, r, mt.node, mt.router)
}

func signBody(t testing.TB, r apps.Receipt, node, router *ecdsa.PrivateKey) []byte {
	t.Helper()
	s := apps.SignedReceipt{Receipt: r}
	var err error
	if s.NodeSig, err = apps.SignReceipt(&r, apps.RoleNode, node); err != nil {
		t.Fatal(err)
	}
	if s.RouterSig, err = apps.SignReceipt(&r, apps.RoleRouter, router); err != nil {
		t.Fatal(err)
	}
	return s.Encode()
}
