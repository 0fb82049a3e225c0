package jsonrpc

import (
	"encoding/json"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// computeSetup runs the real staking and registry modules (epochs of one
// block, a 1 EMC router minimum) on block 3's state: devAddr registers a
// node (2 × "NVIDIA H200", two prices, one image) and otherAddr, staked
// 1 EMC as a router, registers a router; both with fixed Ed25519 peer keys.
func computeSetup(f *fakeBackend) {
	t := f.t
	min := uint256.NewInt(params.Ether)
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: json.RawMessage(`{"minRouterStakeWei":"1000000000000000000"}`)},
		map[string]native.Factory{
			staking.Name:  staking.Factory(1),
			registry.Name: registry.Factory(registry.Staking{EpochLength: 1, MinRouterStakeWei: min}),
		})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(native.RegistryAddress)
	f.registry = m.(*registry.Module)
	regABI, _ := abi.JSON(strings.NewReader(m.ABI()))
	sm, _ := reg.Lookup(native.StakingAddress)
	stkABI, _ := abi.JSON(strings.NewReader(sm.ABI()))
	f.mineState(func(st *ethstate.StateDB) {
		ch := nativetest.New(t, reg, nil)
		for addr, acct := range reg.GenesisAlloc() {
			st.SetCode(addr, acct.Code, tracing.CodeChangeGenesis)
			st.SetNonce(addr, acct.Nonce, tracing.NonceChangeGenesis)
		}
		st.AddBalance(otherAddr, uint256.NewInt(10*params.Ether), tracing.BalanceChangeUnspecified)
		ch.State, ch.Number = st, 1
		send := func(from common.Address, to common.Address, a abi.ABI, value *uint256.Int, method string, args ...any) {
			data, err := a.Pack(method, args...)
			if err != nil {
				t.Fatal(err)
			}
			msg := ch.Msg(from, &to, value, data)
			msg.GasLimit = 3_000_000
			if res, _ := ch.Apply(msg); res.Err != nil {
				reason, _ := abi.UnpackRevert(res.ReturnData)
				t.Fatalf("%s: %v %q", method, res.Err, reason)
			}
		}
		cid := uint256.MustFromBig(ch.Config.ChainID)
		send(otherAddr, native.StakingAddress, stkABI, min, "stake", uint8(staking.RoleRouter), uint8(0))
		ch.Number = 2
		nodeID, nodeSig, err := registry.SignPeerProof(fixedPeerKey(t, 1), cid, devAddr)
		if err != nil {
			t.Fatal(err)
		}
		send(devAddr, native.RegistryAddress, regABI, nil, "registerNode", nodeID, nodeSig,
			crypto.Keccak256Hash([]byte("gpus")), uint32(2), "NVIDIA H200", uint64(143_771), false,
			[]string{"NVIDIA H200", "NVIDIA A100"}, []*big.Int{big.NewInt(1_000_000_000), big.NewInt(500_000_000)},
			big.NewInt(1000), [][32]byte{{0xaa}})
		routerID, routerSig, err := registry.SignPeerProof(fixedPeerKey(t, 2), cid, otherAddr)
		if err != nil {
			t.Fatal(err)
		}
		send(otherAddr, native.RegistryAddress, regABI, nil, "registerRouter", routerID, routerSig)
	})
}

// fixedPeerKey is a deterministic Ed25519 libp2p key.
func fixedPeerKey(t testing.TB, seed int64) lcrypto.PrivKey {
	k, _, err := lcrypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestComputeNodesNoRegistry: a chain without the module says so.
func TestComputeNodesNoRegistry(t *testing.T) {
	_, b := newTestServer(t)
	api := &emcAPI{b: b}
	if _, err := api.ComputeNodes(t.Context(), nil, nil); err != errNoRegistry {
		t.Fatalf("computeNodes without the module: %v", err)
	}
}

// jobsSetup runs the real jobs module on block 3's state: devAddr submits
// job 1 (1 H200 GPU, 100 s, 1 ether escrow, cap 1 gwei per GPU-second)
// and job 2 (the same, 2 ether), then cancels job 2.
func jobsSetup(f *fakeBackend) {
	t := f.t
	st := registry.Staking{EpochLength: 1, MinRouterStakeWei: uint256.NewInt(params.Ether)}
	reg, err := native.Load(nil, map[string]native.Factory{jobs.Name: jobs.Factory(st, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(native.JobsAddress)
	jobsABI, _ := abi.JSON(strings.NewReader(m.ABI()))
	spec := jobs.Spec{Image: common.Hash{0xaa}, Args: []string{"run"}, GPUs: 1, GPUModel: "NVIDIA H200", TimeoutSeconds: 100, OutputCapBytes: 1 << 20}
	raw, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f.mineState(func(st *ethstate.StateDB) {
		ch := nativetest.New(t, reg, nil)
		for addr, acct := range reg.GenesisAlloc() {
			st.SetCode(addr, acct.Code, tracing.CodeChangeGenesis)
			st.SetNonce(addr, acct.Nonce, tracing.NonceChangeGenesis)
		}
		ch.State, ch.Number = st, 3
		send := func(value *uint256.Int, method string, args ...any) {
			data, err := jobsABI.Pack(method, args...)
			if err != nil {
				t.Fatal(err)
			}
			msg := ch.Msg(devAddr, &native.JobsAddress, value, data)
			msg.GasLimit = 3_000_000
			if res, _ := ch.Apply(msg); res.Err != nil {
				reason, _ := abi.UnpackRevert(res.ReturnData)
				t.Fatalf("%s: %v %q", method, res.Err, reason)
			}
		}
		send(uint256.NewInt(params.Ether), "submitJob", raw, big.NewInt(1_000_000_000))
		send(uint256.NewInt(2*params.Ether), "submitJob", raw, big.NewInt(1_000_000_000))
		send(nil, "cancel", big.NewInt(2))
	})
}
