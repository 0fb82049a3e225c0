// Registry tests run the module through a real go-ethereum EVM
// (state/native/nativetest), next to a real staking module for the router
// stake checks. Each refusal is checked to revert with its reason, emit
// nothing and leave the module's storage untouched; accepted calls are
// checked through the views, the Go accessors, the logs and the exact fee.
package registry_test

import (
	"bytes"
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
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var (
	regAddr     = native.RegistryAddress
	stakingAddr = native.StakingAddress
	alice       = common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	bob         = common.HexToAddress("0xb0b0000000000000000000000000000000000002")
	carol       = common.HexToAddress("0xca201000000000000000000000000000000000003")
)

const testEpochLength = 10

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type fixture struct {
	*nativetest.Chain
	t      *testing.T
	mod    *registry.Module
	abi    abi.ABI
	stkABI abi.ABI
}

// newFixture builds a chain with the staking module (router minimum 100
// EMC) and the registry with params (JSON, "" for defaults); alice, bob
// and carol hold 1000 EMC each.
func newFixture(t *testing.T, params string) *fixture {
	t.Helper()
	var raw json.RawMessage
	if params != "" {
		raw = json.RawMessage(params)
	}
	stRaw := json.RawMessage(`{"minRouterStakeWei":"100000000000000000000"}`)
	sp, err := staking.ParseParams(stRaw, testEpochLength)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: stRaw, registry.Name: raw}, map[string]native.Factory{
		staking.Name:  staking.Factory(testEpochLength),
		registry.Name: registry.Factory(registry.Staking{EpochLength: testEpochLength, MinRouterStakeWei: sp.MinStakeWei[staking.RoleRouter]}),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(regAddr)
	s, _ := reg.Lookup(stakingAddr)
	f := &fixture{t: t, mod: m.(*registry.Module)}
	if f.abi, err = abi.JSON(strings.NewReader(m.ABI())); err != nil {
		t.Fatal(err)
	}
	if f.stkABI, err = abi.JSON(strings.NewReader(s.ABI())); err != nil {
		t.Fatal(err)
	}
	alloc := types.GenesisAlloc{}
	for _, a := range []common.Address{alice, bob, carol} {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	f.Chain = nativetest.New(t, reg, alloc)
	return f
}

// peerKey returns a deterministic libp2p key (Ed25519, or secp256k1 when
// secp) from seed.
func peerKey(t testing.TB, seed int64, secp bool) lcrypto.PrivKey {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	var k lcrypto.PrivKey
	var err error
	if secp {
		// GenerateSecp256k1Key does not draw only from r; derive the
		// scalar from r so the key is the same in every process.
		var b [32]byte
		r.Read(b[:])
		b[0] = 0x01 // below the group order
		k, err = lcrypto.UnmarshalSecp256k1PrivateKey(b[:])
	} else {
		k, _, err = lcrypto.GenerateEd25519Key(r)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof is k's peer proof for owner on the harness chain.
func proof(t testing.TB, k lcrypto.PrivKey, owner common.Address) (peerID, sig []byte) {
	t.Helper()
	id, sig, err := registry.SignPeerProof(k, uint256.MustFromBig(nativetest.Config().ChainID), owner)
	if err != nil {
		t.Fatal(err)
	}
	return id, sig
}

// inv is a node's inventory arguments, in ABI order after peerId, peerSig.
type inv struct {
	hash      [32]byte
	count     uint32
	model     string
	memMiB    uint64
	simulated bool
	models    []string
	prices    []*big.Int
	cpu       *big.Int
	images    [][32]byte
}

func (i inv) args() []any {
	return []any{i.hash, i.count, i.model, i.memMiB, i.simulated, i.models, i.prices, i.cpu, i.images}
}

func goodInv() inv {
	return inv{
		hash: crypto.Keccak256Hash([]byte(`{"gpus":[...]}`)), count: 2, model: "NVIDIA H200", memMiB: 143_771,
		models: []string{"NVIDIA H200"}, prices: []*big.Int{big.NewInt(1_000_000_000)}, cpu: big.NewInt(1_000),
		images: [][32]byte{{0xaa}, {0xbb}},
	}
}

type resultT struct {
	gasUsed uint64
	err     error
	ret     []byte
	logs    []*types.Log
}

func (r *resultT) reason() string {
	if r.err == nil {
		return ""
	}
	s, err := abi.UnpackRevert(r.ret)
	if err != nil {
		return r.err.Error()
	}
	return s
}

func (f *fixture) pack(a abi.ABI, name string, args ...any) []byte {
	f.t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *fixture) send(from common.Address, name string, args ...any) *resultT {
	f.t.Helper()
	msg := f.Msg(from, &regAddr, nil, f.pack(f.abi, name, args...))
	msg.GasLimit = 3_000_000
	res, logs := f.Apply(msg)
	return &resultT{res.UsedGas, res.Err, res.ReturnData, logs}
}

func (f *fixture) mustSend(from common.Address, name string, args ...any) *resultT {
	f.t.Helper()
	r := f.send(from, name, args...)
	if r.err != nil {
		f.t.Fatalf("%s: %v %q", name, r.err, r.reason())
	}
	return r
}

// mustRevert sends and checks that the call reverts with want, emits
// nothing, leaves the module's storage as it was and costs the sender the
// fee only.
func (f *fixture) mustRevert(from common.Address, want error, name string, args ...any) {
	f.t.Helper()
	root := f.State.GetStorageRoot(regAddr)
	before := f.State.GetBalance(from).Clone()
	r := f.send(from, name, args...)
	if !errors.Is(r.err, vm.ErrExecutionReverted) || !strings.HasPrefix(r.reason(), want.Error()) {
		f.t.Fatalf("%s: err %v reason %q, want %q", name, r.err, r.reason(), want)
	}
	if len(r.logs) != 0 {
		f.t.Fatalf("%s: %d logs on revert", name, len(r.logs))
	}
	if f.State.GetStorageRoot(regAddr) != root {
		f.t.Fatalf("%s: module storage changed on revert", name)
	}
	if got, want := f.State.GetBalance(from), new(uint256.Int).Sub(before, nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		f.t.Fatalf("%s: sender balance %s, want %s", name, got, want)
	}
}

func (f *fixture) register(from common.Address, k lcrypto.PrivKey, i inv) *resultT {
	f.t.Helper()
	id, sig := proof(f.t, k, from)
	return f.mustSend(from, "registerNode", append([]any{id, sig}, i.args()...)...)
}

func (f *fixture) view(name string, args ...any) []any {
	f.t.Helper()
	res := f.Call(f.Msg(carol, &regAddr, nil, f.pack(f.abi, name, args...)))
	if res.Err != nil {
		f.t.Fatalf("%s: %v", name, res.Err)
	}
	out, err := f.abi.Unpack(name, res.ReturnData)
	if err != nil {
		f.t.Fatalf("%s: unpack: %v", name, err)
	}
	return out
}

// stake stakes amount for role from owner.
func (f *fixture) stake(owner common.Address, role staking.Role, amount *uint256.Int) {
	f.t.Helper()
	msg := f.Msg(owner, &stakingAddr, amount, f.pack(f.stkABI, "stake", uint8(role), uint8(0)))
	res, _ := f.Apply(msg)
	if res.Err != nil {
		reason, _ := abi.UnpackRevert(res.ReturnData)
		f.t.Fatalf("stake: %v %q", res.Err, reason)
	}
}

func declared(data []byte, methodGas uint64) uint64 {
	return nativetest.IntrinsicGas(data) + methodGas + (uint64(len(data))+31)/32*native.GasPerInputWord
}

func TestRegisterNode(t *testing.T) {
	f := newFixture(t, "")
	k := peerKey(t, 1, false)
	id, sig := proof(t, k, alice)
	i := goodInv()
	before := f.State.GetBalance(alice).Clone()
	data := f.pack(f.abi, "registerNode", append([]any{id, sig}, i.args()...)...)
	r := f.mustSend(alice, "registerNode", append([]any{id, sig}, i.args()...)...)

	// Gas: the static cost plus one RecordWordGas per record word, the
	// record priced with a maximal peer ID and block numbers.
	n, ok, err := registry.NodeOf(f.State, alice)
	if err != nil || !ok {
		t.Fatalf("NodeOf: %v %v", ok, err)
	}
	n.PeerID = make([]byte, registry.MaxPeerIDBytes)
	n.RegisteredBlock, n.UpdatedBlock = ^uint64(0), ^uint64(0)
	enc, _ := registry.EncodeNode(&n)
	wantGas := declared(data, registry.RegisterNodeGas) + uint64(len(enc)+31)/32*registry.RecordWordGas
	if r.gasUsed != wantGas {
		t.Errorf("gas %d, want %d", r.gasUsed, wantGas)
	}
	if got, want := f.State.GetBalance(alice), new(uint256.Int).Sub(before, nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		t.Errorf("alice %s, want %s: registration moves no value", got, want)
	}
	if !f.State.GetBalance(regAddr).IsZero() {
		t.Errorf("module holds %s wei", f.State.GetBalance(regAddr))
	}

	n, _, _ = registry.NodeOf(f.State, alice)
	if n.Owner != alice || !bytes.Equal(n.PeerID, id) || n.InventoryHash != i.hash || n.GPUCount != 2 ||
		n.GPUModel != "NVIDIA H200" || n.MemoryMiB != 143_771 || n.Simulated || n.RegisteredBlock != f.Number ||
		n.CPUPriceWei.Uint64() != 1000 || len(n.Images) != 2 || !n.HasImage(common.Hash{0xbb}) || n.HasImage(common.Hash{0xcc}) {
		t.Fatalf("NodeOf = %+v", n)
	}
	if p, ok := n.PriceFor("NVIDIA H200"); !ok || p.Uint64() != 1_000_000_000 {
		t.Fatalf("PriceFor = %v %v", p, ok)
	}
	if _, ok := n.PriceFor("NVIDIA A100"); ok {
		t.Fatal("PriceFor an unpriced model")
	}
	if byPeer, ok, err := registry.NodeByPeer(f.State, id); err != nil || !ok || byPeer.Owner != alice {
		t.Fatalf("NodeByPeer = %+v %v %v", byPeer, ok, err)
	}

	out := f.view("nodeOf", alice)
	if out[0] != true || !bytes.Equal(out[1].([]byte), id) || out[2].([32]byte) != i.hash || out[3].(uint32) != 2 ||
		out[4].(string) != "NVIDIA H200" || out[5].(uint64) != 143_771 || out[6].(bool) ||
		out[7].([]string)[0] != "NVIDIA H200" || out[8].([]*big.Int)[0].Uint64() != 1_000_000_000 ||
		out[9].(*big.Int).Uint64() != 1000 || len(out[10].([][32]byte)) != 2 || out[11].(uint64) != f.Number {
		t.Fatalf("nodeOf = %v", out)
	}
	if out := f.view("nodeOf", bob); out[0] != false || len(out[1].([]byte)) != 0 {
		t.Fatalf("nodeOf(bob) = %v", out)
	}
	if out := f.view("nodeByPeer", id); out[0].(common.Address) != alice {
		t.Fatalf("nodeByPeer = %v", out)
	}
	if out := f.view("nodes", big.NewInt(0), big.NewInt(10)); len(out[0].([]common.Address)) != 1 || out[1].(*big.Int).Uint64() != 1 {
		t.Fatalf("nodes = %v", out)
	}

	if len(r.logs) != 1 || r.logs[0].Address != regAddr || r.logs[0].Topics[0] != f.abi.Events["NodeRegistered"].ID ||
		r.logs[0].Topics[1] != common.BytesToHash(alice[:]) {
		t.Fatalf("logs %+v", r.logs)
	}
	vals, err := f.abi.Events["NodeRegistered"].Inputs.NonIndexed().Unpack(r.logs[0].Data)
	if err != nil || !bytes.Equal(vals[0].([]byte), id) || vals[2].(uint32) != 2 {
		t.Fatalf("log data %v %v", vals, err)
	}
}

// TestRegisterNodeRefusals: every bad registration reverts with its reason.
func TestRegisterNodeRefusals(t *testing.T) {
	f := newFixture(t, "")
	kA := peerKey(t, 1, false)
	kB := peerKey(t, 2, true)
	f.register(alice, kA, goodInv())

	idA, sigA := proof(t, kA, alice)
	idB, sigB := proof(t, kB, bob)
	// Proofs that must not work.
	_, sigOtherChain, err := registry.SignPeerProof(kB, uint256.NewInt(999), bob)
	if err != nil {
		t.Fatal(err)
	}
	_, sigForCarol := proof(t, kB, carol)
	forged, _ := peerKey(t, 3, false).Sign(registry.PeerDigest(uint256.NewInt(1337), bob, idB).Bytes())
	idKA4bob, sigKA4bob := proof(t, kA, bob) // alice's peer key signs for bob: the peer is alice's already
	rsaID := rsaPeerID(t)

	bad := func(mut func(*inv)) []any {
		i := goodInv()
		mut(&i)
		return append([]any{idB, sigB}, i.args()...)
	}
	long := strings.Repeat("x", registry.MaxModelBytes+1)
	cases := []struct {
		name string
		from common.Address
		want error
		args []any
	}{
		{"alice again", alice, registry.ErrAlreadyRegistered, append([]any{idA, sigA}, goodInv().args()...)},
		{"alice's proof sent by bob", bob, registry.ErrBadPeerProof, append([]any{idA, sigA}, goodInv().args()...)},
		{"another owner's peer ID", bob, registry.ErrPeerTaken, append([]any{idKA4bob, sigKA4bob}, goodInv().args()...)},
		{"forged proof", bob, registry.ErrBadPeerProof, append([]any{idB, forged}, goodInv().args()...)},
		{"proof for another chain", bob, registry.ErrBadPeerProof, append([]any{idB, sigOtherChain}, goodInv().args()...)},
		{"proof for another owner", bob, registry.ErrBadPeerProof, append([]any{idB, sigForCarol}, goodInv().args()...)},
		{"peer ID without inline key", bob, registry.ErrBadPeerID, append([]any{rsaID, sigB}, goodInv().args()...)},
		{"garbage peer ID", bob, registry.ErrBadPeerID, append([]any{[]byte{1, 2, 3}, sigB}, goodInv().args()...)},
		{"empty peer ID", bob, registry.ErrBadPeerID, append([]any{[]byte{}, sigB}, goodInv().args()...)},
		{"oversize peer ID", bob, registry.ErrBadPeerID, append([]any{make([]byte, registry.MaxPeerIDBytes+1), sigB}, goodInv().args()...)},
		{"oversize signature", bob, registry.ErrBadPeerProof, append([]any{idB, make([]byte, registry.MaxPeerSigBytes+1)}, goodInv().args()...)},
		{"simulated GPUs", bob, registry.ErrSimulatedNotAllowed, bad(func(i *inv) { i.simulated = true })},
		{"zero inventory hash", bob, registry.ErrBadInventory, bad(func(i *inv) { i.hash = [32]byte{} })},
		{"too many GPUs", bob, registry.ErrBadInventory, bad(func(i *inv) { i.count = registry.MaxGPUs + 1 })},
		{"GPUs without memory", bob, registry.ErrBadInventory, bad(func(i *inv) { i.memMiB = 0 })},
		{"GPUs without model", bob, registry.ErrBadInventory, bad(func(i *inv) { i.model = "" })},
		{"oversize model", bob, registry.ErrBadInventory, bad(func(i *inv) { i.model = long })},
		{"unprintable model", bob, registry.ErrBadInventory, bad(func(i *inv) { i.model = "H200\n" })},
		{"CPU node with a model", bob, registry.ErrBadInventory, bad(func(i *inv) { i.count = 0 })},
		{"GPUs without price", bob, registry.ErrBadPrices, bad(func(i *inv) { i.models, i.prices = nil, nil })},
		{"zero price", bob, registry.ErrBadPrices, bad(func(i *inv) { i.prices = []*big.Int{big.NewInt(0)} })},
		{"models and prices differ", bob, registry.ErrBadPrices, bad(func(i *inv) { i.prices = append(i.prices, big.NewInt(1)) })},
		{"duplicate model", bob, registry.ErrBadPrices, bad(func(i *inv) {
			i.models = []string{"a", "a"}
			i.prices = []*big.Int{big.NewInt(1), big.NewInt(2)}
		})},
		{"oversize price model", bob, registry.ErrBadPrices, bad(func(i *inv) { i.models = []string{long} })},
		{"too many prices", bob, registry.ErrBadPrices, bad(func(i *inv) {
			i.models, i.prices = nil, nil
			for j := range registry.MaxPrices + 1 {
				i.models = append(i.models, string(rune('a'+j)))
				i.prices = append(i.prices, big.NewInt(1))
			}
		})},
		{"too many images", bob, registry.ErrBadImages, bad(func(i *inv) {
			i.images = nil
			for j := range registry.MaxImages + 1 {
				i.images = append(i.images, [32]byte{byte(j + 1)})
			}
		})},
		{"duplicate image", bob, registry.ErrBadImages, bad(func(i *inv) { i.images = [][32]byte{{1}, {1}} })},
		{"zero image", bob, registry.ErrBadImages, bad(func(i *inv) { i.images = [][32]byte{{}} })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			f.mustRevert(tc.from, tc.want, "registerNode", tc.args...)
		})
	}
	f.t = t
	if registry.NodeCount(f.State) != 1 || registry.IsNodeRegistered(f.State, bob) {
		t.Fatal("a refused registration was stored")
	}
	// The good proof still works (secp256k1 key), and a CPU-only node is fine.
	cpu := goodInv()
	cpu.count, cpu.model, cpu.memMiB, cpu.models, cpu.prices = 0, "", 0, nil, nil
	f.mustSend(bob, "registerNode", append([]any{idB, sigB}, cpu.args()...)...)
}

// rsaPeerID is a peer ID whose key is hashed, not inlined (an RSA key's).
func rsaPeerID(t *testing.T) []byte {
	k, _, err := lcrypto.GenerateRSAKeyPair(2048, rand.New(rand.NewSource(7)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(id)
}

func TestSimulatedAllowed(t *testing.T) {
	f := newFixture(t, `{"allowSimulatedGPUs":true}`)
	i := goodInv()
	i.simulated = true
	f.register(alice, peerKey(t, 1, false), i)
	if n, _, _ := registry.NodeOf(f.State, alice); !n.Simulated {
		t.Fatal("simulated flag lost")
	}
	if _, err := registry.ParseParams(json.RawMessage(`{"allowSimulatedGPU":true}`)); !errors.Is(err, native.ErrBadParams) {
		t.Fatalf("unknown param: %v", err)
	}
}

// TestUpdateDeregister: updates replace the record (a shorter one leaves no
// stale words), deregistration frees every slot and the peer ID, and the
// dense list stays consistent.
func TestUpdateDeregister(t *testing.T) {
	f := newFixture(t, "")
	empty := f.State.GetStorageRoot(regAddr)
	kA, kB, kC := peerKey(t, 1, false), peerKey(t, 2, false), peerKey(t, 3, true)
	f.register(alice, kA, goodInv())
	f.register(bob, kB, goodInv())
	f.register(carol, kC, goodInv())

	f.mustRevert(bob, registry.ErrSimulatedNotAllowed, "updateNode", func() []any { i := goodInv(); i.simulated = true; return i.args() }()...)
	f.Number = 5
	small := goodInv()
	small.images = nil
	small.models = []string{"H"}
	small.model = "H"
	r := f.mustSend(alice, "updateNode", small.args()...)
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["NodeUpdated"].ID {
		t.Fatalf("update logs %+v", r.logs)
	}
	n, _, err := registry.NodeOf(f.State, alice)
	if err != nil || n.GPUModel != "H" || len(n.Images) != 0 || n.UpdatedBlock != 5 || n.RegisteredBlock != 1 {
		t.Fatalf("after update %+v %v", n, err)
	}
	enc, _ := registry.EncodeNode(&n)
	base := registry.NodeRecordKey(alice)
	for j := uint64((len(enc) + 31) / 32); j < registry.MaxRecordWords; j++ {
		if f.State.GetState(regAddr, native.ArraySlot(base, j)) != (common.Hash{}) {
			t.Fatalf("stale record word %d after a shrinking update", j)
		}
	}
	f.mustRevert(alice, registry.ErrNotRegistered, "deregisterRouter")

	// Deregister the first: carol moves into its place.
	r = f.mustSend(alice, "deregisterNode")
	if want := declared(f.pack(f.abi, "deregisterNode"), registry.DeregisterNodeGas); r.gasUsed != want {
		t.Errorf("deregisterNode gas %d, want %d", r.gasUsed, want)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["NodeDeregistered"].ID {
		t.Fatalf("deregister logs %+v", r.logs)
	}
	owners, total := registry.NodeOwners(f.State, 0, 10)
	if total != 2 || len(owners) != 2 || owners[0] != carol || owners[1] != bob {
		t.Fatalf("owners after deregistration %v (%d)", owners, total)
	}
	if nodes, _, err := registry.Nodes(f.State, 0, 10); err != nil || len(nodes) != 2 || nodes[0].Owner != carol {
		t.Fatalf("Nodes %v %v", nodes, err)
	}
	if out := f.view("nodes", big.NewInt(1), big.NewInt(1)); out[0].([]common.Address)[0] != bob || out[1].(*big.Int).Uint64() != 2 {
		t.Fatalf("nodes(1,1) = %v", out)
	}
	if out := f.view("nodes", new(big.Int).Lsh(big.NewInt(1), 200), big.NewInt(1)); len(out[0].([]common.Address)) != 0 {
		t.Fatalf("nodes(2^200) = %v", out)
	}
	f.mustRevert(alice, registry.ErrNotRegistered, "updateNode", goodInv().args()...)
	f.mustRevert(alice, registry.ErrNotRegistered, "deregisterNode")

	// alice's peer ID is free again: no claim is left on it.
	idA, _ := proof(t, kA, alice)
	if _, ok := registry.NodeOwnerOf(f.State, idA); ok {
		t.Fatal("peer claim left after deregistration")
	}
	f.register(alice, kA, goodInv()) // and alice may come back with the same proof
	f.mustSend(alice, "deregisterNode")
	f.mustSend(bob, "deregisterNode")
	f.mustSend(carol, "deregisterNode")
	if f.State.GetStorageRoot(regAddr) != empty {
		t.Fatal("storage not empty after every node left")
	}
}

// TestRouter: registration needs a router stake effective this epoch; an
// unstake stops the router counting at once.
func TestRouter(t *testing.T) {
	f := newFixture(t, "")
	k := peerKey(t, 9, false)
	id, sig := proof(t, k, alice)
	f.mustRevert(alice, registry.ErrNotStaked, "registerRouter", id, sig)

	f.stake(bob, staking.RoleCompute, emc(200))
	idB, sigB := proof(t, peerKey(t, 10, false), bob)
	f.Number = testEpochLength * 3
	f.mustRevert(bob, registry.ErrNotStaked, "registerRouter", idB, sigB) // wrong role

	f.stake(alice, staking.RoleRouter, emc(100))
	f.mustRevert(alice, registry.ErrNotStaked, "registerRouter", id, sig) // not effective yet
	f.Number += testEpochLength
	forged, _ := peerKey(t, 11, false).Sign(registry.PeerDigest(uint256.NewInt(1337), alice, id).Bytes())
	f.mustRevert(alice, registry.ErrBadPeerProof, "registerRouter", id, forged)
	if f.mod.ActiveRouter(f.State, alice, f.Number) {
		t.Fatal("active before registering")
	}
	r := f.mustSend(alice, "registerRouter", id, sig)
	if want := declared(f.pack(f.abi, "registerRouter", id, sig), registry.RegisterRouterGas); r.gasUsed != want {
		t.Errorf("registerRouter gas %d, want %d", r.gasUsed, want)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["RouterRegistered"].ID {
		t.Fatalf("logs %+v", r.logs)
	}
	f.mustRevert(alice, registry.ErrAlreadyRegistered, "registerRouter", id, sig)
	if !f.mod.ActiveRouter(f.State, alice, f.Number) {
		t.Fatal("registered, staked router not active")
	}
	if out := f.view("routerOf", alice); out[0] != true || !bytes.Equal(out[1].([]byte), id) || out[3] != true {
		t.Fatalf("routerOf = %v", out)
	}
	if out := f.view("routers", big.NewInt(0), big.NewInt(5)); out[0].([]common.Address)[0] != alice {
		t.Fatalf("routers = %v", out)
	}
	// The router's peer ID is alice's: nobody else can use it as a node.
	idX, sigX := proof(t, k, bob)
	f.mustRevert(bob, registry.ErrPeerTaken, "registerNode", append([]any{idX, sigX}, goodInv().args()...)...)
	// alice may run her node on the router's peer.
	f.register(alice, k, goodInv())

	// Unstaking counts at once.
	msg := f.Msg(alice, &stakingAddr, nil, f.pack(f.stkABI, "unstake", emc(100).ToBig()))
	if res, _ := f.Apply(msg); res.Err != nil {
		t.Fatalf("unstake: %v", res.Err)
	}
	if f.mod.ActiveRouter(f.State, alice, f.Number) {
		t.Fatal("router active after unstaking")
	}
	if out := f.view("routerOf", alice); out[0] != true || out[3] != false {
		t.Fatalf("routerOf after unstake = %v", out)
	}
	f.mustSend(alice, "deregisterRouter")
	f.mustRevert(alice, registry.ErrNotRegistered, "deregisterRouter")
	if registry.RouterCount(f.State) != 0 || registry.IsRouterRegistered(f.State, alice) {
		t.Fatal("router left after deregistration")
	}
	if _, ok := registry.RouterOwnerOf(f.State, id); ok {
		t.Fatal("router peer claim left")
	}
}

// TestFromContract: contracts read the views but cannot register.
func TestFromContract(t *testing.T) {
	f := newFixture(t, "")
	f.register(alice, peerKey(t, 1, false), goodInv())
	caller := f.Deploy(nativetest.Forwarder(regAddr, vm.CALL))
	id, sig := proof(t, peerKey(t, 2, false), caller)
	msg := f.Msg(bob, &caller, nil, f.pack(f.abi, "registerNode", append([]any{id, sig}, goodInv().args()...)...))
	msg.GasLimit = 3_000_000
	if res, _ := f.Apply(msg); res.Err == nil {
		t.Fatal("registerNode through a contract succeeded")
	}
	viewer := f.Deploy(nativetest.Forwarder(regAddr, vm.STATICCALL))
	msg = f.Msg(bob, &viewer, nil, f.pack(f.abi, "nodeOf", alice))
	if res := f.Call(msg); res.Err != nil {
		t.Fatalf("nodeOf through a contract: %v", res.Err)
	}
}

// TestMaxRecord: a record at every bound fits MaxRecordBytes, registers
// within its declared gas, and reads back.
func TestMaxRecord(t *testing.T) {
	f := newFixture(t, "")
	i := goodInv()
	i.count = registry.MaxGPUs
	i.model = strings.Repeat("M", registry.MaxModelBytes)
	i.memMiB = ^uint64(0)
	i.models, i.prices, i.images = nil, nil, nil
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for j := range registry.MaxPrices {
		i.models = append(i.models, strings.Repeat(string(rune('a'+j)), registry.MaxModelBytes))
		i.prices = append(i.prices, max)
	}
	for j := range registry.MaxImages {
		i.images = append(i.images, [32]byte{0xff, byte(j)})
	}
	i.cpu = max
	n, err := registry.DecodeNodeArgs(i.args())
	if err != nil {
		t.Fatal(err)
	}
	n.PeerID = make([]byte, registry.MaxPeerIDBytes)
	n.RegisteredBlock, n.UpdatedBlock = ^uint64(0), ^uint64(0)
	enc, err := registry.EncodeNode(&n)
	if err != nil || len(enc) > registry.MaxRecordBytes {
		t.Fatalf("max record %d bytes (bound %d): %v", len(enc), registry.MaxRecordBytes, err)
	}
	t.Logf("max record %d bytes of %d", len(enc), registry.MaxRecordBytes)
	f.register(alice, peerKey(t, 1, false), i)
	got, _, err := registry.NodeOf(f.State, alice)
	if err != nil || len(got.Prices) != registry.MaxPrices || !got.CPUPriceWei.Eq(uint256.MustFromBig(max)) {
		t.Fatalf("NodeOf %+v %v", got, err)
	}
}

// TestPing: a ping records the block as the node's last on-chain update
// (LastSeen, the lastSeen view), later than its registration or update;
// only a registered node pings; deregistering clears the ping, leaving the
// module's storage as it was before the node.
func TestPing(t *testing.T) {
	f := newFixture(t, "")
	empty := f.State.GetStorageRoot(regAddr)
	f.mustRevert(alice, registry.ErrNotRegistered, "ping")
	f.register(alice, peerKey(t, 1, false), goodInv())
	registered := f.Number
	seen := func() uint64 {
		t.Helper()
		n, ok, err := registry.NodeOf(f.State, alice)
		if !ok || err != nil {
			t.Fatalf("node: %v %v", ok, err)
		}
		out := f.view("lastSeen", alice)
		if !out[0].(bool) || out[1].(uint64) != registry.LastSeen(f.State, &n) {
			t.Fatalf("lastSeen view %v, accessor %d", out, registry.LastSeen(f.State, &n))
		}
		return out[1].(uint64)
	}
	if got := seen(); got != registered {
		t.Fatalf("last seen %d, registered in %d", got, registered)
	}
	f.Number = registered + 7
	if r := f.mustSend(alice, "ping"); len(r.logs) != 0 {
		t.Fatalf("ping logged %+v", r.logs)
	}
	if got := seen(); got != registered+7 {
		t.Fatalf("last seen %d after a ping in %d", got, registered+7)
	}
	f.Number = registered + 9
	f.mustSend(alice, "updateNode", goodInv().args()...)
	if got := seen(); got != registered+9 {
		t.Fatalf("last seen %d after an update in %d", got, registered+9)
	}
	if out := f.view("lastSeen", bob); out[0].(bool) || out[1].(uint64) != 0 {
		t.Fatalf("lastSeen of no node %v", out)
	}
	f.mustSend(alice, "deregisterNode")
	if f.State.GetStorageRoot(regAddr) != empty {
		t.Fatal("deregistering a pinged node left storage behind")
	}
}
