package jsonrpc

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// missSetup runs the real registry and verification modules (the classes
// of verifySetup: epoch 0's only deadline is block 2) on block 3's state:
// devAddr and otherAddr register nodes in block 0, block 1 stores epoch
// 0's seed with a third account the only validator, nobody commits, and
// in block 3 recordMiss records devAddr's miss (otherAddr's is left
// lazy).
func missSetup(f *fakeBackend) {
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
	f.registry = rm.(*registry.Module)
	regABI, _ := abi.JSON(strings.NewReader(rm.ABI()))
	f.mineState(func(st *ethstate.StateDB) {
		ch := nativetest.New(t, reg, nil)
		for addr, acct := range reg.GenesisAlloc() {
			st.SetCode(addr, acct.Code, tracing.CodeChangeGenesis)
			st.SetNonce(addr, acct.Nonce, tracing.NonceChangeGenesis)
		}
		ch.State, ch.Number = st, 0
		send := func(from, to common.Address, a abi.ABI, method string, args ...any) {
			data, err := a.Pack(method, args...)
			if err != nil {
				t.Fatal(err)
			}
			msg := ch.Msg(from, &to, nil, data)
			msg.GasLimit = 3_000_000
			if res, _ := ch.Apply(msg); res.Err != nil {
				reason, _ := abi.UnpackRevert(res.ReturnData)
				t.Fatalf("%s: %v %q", method, res.Err, reason)
			}
		}
		for i, owner := range []common.Address{devAddr, otherAddr} {
			nodeID, nodeSig, err := registry.SignPeerProof(fixedPeerKey(t, int64(10+i)), uint256.MustFromBig(ch.Config.ChainID), owner)
			if err != nil {
				t.Fatal(err)
			}
			send(owner, native.RegistryAddress, regABI, "registerNode", nodeID, nodeSig,
				crypto.Keccak256Hash([]byte("gpus")), uint32(1), "NVIDIA H200", uint64(143_771), false,
				[]string{"NVIDIA H200"}, []*big.Int{big.NewInt(1_000_000_000)}, big.NewInt(0), [][32]byte{{0xaa}})
		}
		ch.Number = 1
		if err := reg.BeginBlock(st, &native.BlockEnv{Number: 1, Time: ch.Time, ParentHash: common.Hash{0x5e},
			BaseFee: new(big.Int), EpochLength: 10, Validators: []common.Address{{0xa1}}}); err != nil {
			t.Fatal(err)
		}
		ch.Number = f.verify.MissDue(0)
		send(otherAddr, native.VerifyAddress, verifyABI, "recordMiss", uint64(0), devAddr)
	})
}

// TestComputeNodesScore: emc_computeNodes over RPC reports each node's
// score and history from the chain's counters (emc_verifyFaults the
// history too): a recorded miss lowers the
// score and shows in the history; a lazy miss (not recorded) changes
// nothing yet; an earlier block reports no nodes. Many callers at once
// get the same answer (run under -race: each call reads its own state).
func TestComputeNodesScore(t *testing.T) {
	srv, b := newTestServer(t)
	missSetup(b)
	client := rpc.DialInProc(srv.rpc)
	defer client.Close()

	get := func() (*ComputeNodes, error) {
		var out ComputeNodes
		err := client.CallContext(context.Background(), &out, "emc_computeNodes")
		return &out, err
	}
	out, err := get()
	if err != nil {
		t.Fatal(err)
	}
	missed := hexutil.Uint64(score.Of(score.Inputs{Missed: 1, History: []uint8{verify.StatusMissed}}))
	want := map[common.Address]struct {
		score   hexutil.Uint64
		history string
	}{devAddr: {missed, "missed"}, otherAddr: {score.Neutral, ""}}
	if len(out.Nodes) != 2 {
		t.Fatalf("%d nodes", len(out.Nodes))
	}
	for _, n := range out.Nodes {
		w := want[n.Owner]
		if n.Score == nil || *n.Score != w.score || strings.Join(n.History, ",") != w.history {
			t.Fatalf("node %s: score %v history %q, want %d %q", n.Owner, n.Score, n.History, w.score, w.history)
		}
	}
	if missed >= score.Neutral {
		t.Fatalf("a recorded miss scores %d, not below neutral", missed)
	}
	// The raw JSON: history is a list, never null.
	var raw json.RawMessage
	if err := client.CallContext(context.Background(), &raw, "emc_computeNodes"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"score":"0x7a120","history":[]`) || !strings.Contains(string(raw), `"history":["missed"]`) {
		t.Fatalf("emc_computeNodes JSON: %s", raw)
	}

	var vf VerifyFaults
	if err := client.CallContext(context.Background(), &vf, "emc_verifyFaults", devAddr); err != nil {
		t.Fatal(err)
	}
	if vf.Missed != 1 || strings.Join(vf.History, ",") != "missed" {
		t.Fatalf("emc_verifyFaults %+v", vf)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				got, err := get()
				if err != nil {
					errs <- err
					return
				}
				for i := range got.Nodes {
					if *got.Nodes[i].Score != *out.Nodes[i].Score || strings.Join(got.Nodes[i].History, ",") != strings.Join(out.Nodes[i].History, ",") {
						errs <- &mismatch{got.Nodes[i]}
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

type mismatch struct{ n ComputeNodeEntry }

func (m *mismatch) Error() string { return "concurrent call disagrees on " + m.n.Owner.Hex() }
