package jsonrpc

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// verifySetup runs the real registry and verification modules (10-block
// epochs of 2 s blocks; one class, n 64, deadline 2 s = 1 block, 2 blocks
// to attest) on block 3's state: devAddr registers a node in block 0, the
// seed hook of block 1 stores epoch 0's seed with otherAddr the only
// validator, and devAddr commits a root in block 2. At block 3 the
// attestation window (blocks 3 and 4) is open.
func verifySetup(f *fakeBackend) {
	t := f.t
	reg, err := native.Load(map[string]json.RawMessage{verify.Name: json.RawMessage(`{"pow": {"classes":
		[{"name": "gpu", "n": 64, "deadlineSeconds": 2}], "defaultClass": "gpu", "cpuClass": "gpu", "simulatedClass": "gpu"},
		"attestBlocks": 2}`)},
		map[string]native.Factory{
			registry.Name: registry.Factory(registry.Staking{EpochLength: 10, MinRouterStakeWei: uint256.NewInt(1)}),
			verify.Name:   verify.Factory(10, 2000),
		})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(native.VerifyAddress)
	f.verify = m.(*verify.Module)
	verifyABI, _ := abi.JSON(strings.NewReader(m.ABI()))
	rm, _ := reg.Lookup(native.RegistryAddress)
	regABI, _ := abi.JSON(strings.NewReader(rm.ABI()))
	f.mineState(func(st *ethstate.StateDB) {
		ch := nativetest.New(t, reg, nil)
		for addr, acct := range reg.GenesisAlloc() {
			st.SetCode(addr, acct.Code, tracing.CodeChangeGenesis)
			st.SetNonce(addr, acct.Nonce, tracing.NonceChangeGenesis)
		}
		ch.State, ch.Number = st, 0
		send := func(to common.Address, a abi.ABI, method string, args ...any) {
			data, err := a.Pack(method, args...)
			if err != nil {
				t.Fatal(err)
			}
			msg := ch.Msg(devAddr, &to, nil, data)
			msg.GasLimit = 3_000_000
			if res, _ := ch.Apply(msg); res.Err != nil {
				reason, _ := abi.UnpackRevert(res.ReturnData)
				t.Fatalf("%s: %v %q", method, res.Err, reason)
			}
		}
		nodeID, nodeSig, err := registry.SignPeerProof(fixedPeerKey(t, 1), uint256.MustFromBig(ch.Config.ChainID), devAddr)
		if err != nil {
			t.Fatal(err)
		}
		send(native.RegistryAddress, regABI, "registerNode", nodeID, nodeSig,
			crypto.Keccak256Hash([]byte("gpus")), uint32(1), "NVIDIA H200", uint64(143_771), false,
			[]string{"NVIDIA H200"}, []*big.Int{big.NewInt(1_000_000_000)}, big.NewInt(0), [][32]byte{{0xaa}})
		ch.Number = 1
		if err := reg.BeginBlock(st, &native.BlockEnv{Number: 1, Time: ch.Time, ParentHash: common.Hash{0x5e},
			BaseFee: new(big.Int), EpochLength: 10, Validators: []common.Address{otherAddr}}); err != nil {
			t.Fatal(err)
		}
		ch.Number = 2
		send(native.VerifyAddress, verifyABI, "commitRoot", uint64(0), [32]byte{0x77})
	})
}

// TestVerifyNoModule: a chain without the module says so.
func TestVerifyNoModule(t *testing.T) {
	_, b := newTestServer(t)
	api := &emcAPI{b: b}
	if _, err := api.Challenge(t.Context(), 0, devAddr, nil); err != errNoVerify {
		t.Fatalf("challenge without the module: %v", err)
	}
	if _, err := api.VerifyFaults(t.Context(), devAddr, nil); err != errNoVerify {
		t.Fatalf("faults without the module: %v", err)
	}
}
